// /api/v1/agents: the list (the original's bare array, or a page with skip/limit), one agent, and create, change,
// delete for their owner or a superuser; the model registry (/models, /model/{id}).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, offsetPage } from '../../platform/pagination.js';
import { ValidationFailedError } from '../../platform/errors.js';
import { caller } from '../auth/index.js';
import {
  Agent,
  AgentIdParams,
  AgentList,
  AgentMetricsSchema,
  AgentsQuery,
  CreateAgentBody,
  CreateAgentQuery,
  ModelCatalog,
  ModelDetail,
  ModelIdParams,
  UpdateAgentBody,
} from './agents.schemas.js';
import type { AgentCaller, AgentsService } from './agents.service.js';
import { agentItem } from './agents.views.js';
import { agentMetrics } from './agent-metrics.service.js';
import type { Clock } from '../../lib/clock.js';
import type { ModelRegistryService } from './model-registry.service.js';

const tags = ['agents'];
const security: Record<string, string[]>[] = [{ bearerAuth: [] }];
const optionalSecurity: Record<string, string[]>[] = [{ bearerAuth: [] }, {}];

function agentCaller(request: FastifyRequest): AgentCaller {
  const { user } = caller(request);
  return { userId: user.id, isSuperuser: user.isSuperuser };
}

export interface AgentsRoutesOptions {
  agents: AgentsService;
  models: ModelRegistryService;
  clock: Clock;
}

export const agentsRoutes: FastifyPluginAsyncTypebox<AgentsRoutesOptions> = async (app, opts) => {
  const { agents, models, clock } = opts;
  const viewer = (request: FastifyRequest) => request.auth?.user.id ?? null;

  app.get(
    '/metrics',
    {
      schema: {
        tags,
        summary: 'The original JARVIS metrics, from this instance’s real counters (docs/agents.md maps them)',
        response: { 200: AgentMetricsSchema },
      },
    },
    async () => {
      const catalog = await models.catalog();
      const served = Object.values(catalog.models).filter((model) => model.status === 'available').length;
      return agentMetrics(app.metrics.registry, { active: served, total: catalog.count }, clock.now());
    },
  );

  app.get(
    '/models',
    {
      schema: {
        tags,
        summary: 'The model registry joined with the models the provider really has',
        response: { 200: ModelCatalog },
      },
    },
    () => models.catalog(),
  );

  app.get(
    '/model/:model_id',
    {
      schema: {
        tags,
        summary: 'One model: a registry key, or a model the provider has',
        params: ModelIdParams,
        response: { 200: ModelDetail },
      },
    },
    (request) => models.model(request.params.model_id),
  );

  app.get(
    '/',
    {
      prefixTrailingSlash: 'slash',
      onRequest: app.optionalAuth,
      schema: {
        tags,
        summary: 'The public agents and yours, each with its real status (a page with skip/limit)',
        security: optionalSecurity,
        querystring: AgentsQuery,
        response: { 200: AgentList },
      },
    },
    async (request) => {
      const { skip, limit } = request.query;
      if (skip === undefined && limit === undefined) {
        // The original's bare array; at most one page's worth.
        return (await agents.list(viewer(request), { skip: 0, limit: MAX_PAGE_SIZE })).map(agentItem);
      }
      const page = { skip: skip ?? 0, limit: limit ?? DEFAULT_PAGE_SIZE };
      const [items, total] = await Promise.all([
        agents.list(viewer(request), page),
        agents.count(viewer(request)),
      ]);
      return offsetPage(items.map(agentItem), total, page.skip, page.limit);
    },
  );

  app.get(
    '/:agent_id',
    {
      onRequest: app.optionalAuth,
      schema: {
        tags,
        summary: 'One agent (another user’s private agent is a 404)',
        security: optionalSecurity,
        params: AgentIdParams,
        response: { 200: Agent },
      },
    },
    async (request) => agentItem(await agents.get(viewer(request), request.params.agent_id)),
  );

  app.post(
    '/create',
    {
      onRequest: app.authenticate,
      schema: {
        tags,
        summary: 'Create an agent: the original query form (?agent_type=&name=) or a JSON body',
        security,
        querystring: CreateAgentQuery,
        body: CreateAgentBody,
        response: { 201: Agent },
      },
      // The original's clients send no body at all: validated as null, which the query form then fills in.
      preValidation: (request, _reply, done) => {
        request.body ??= null;
        done();
      },
    },
    async (request, reply) => {
      const { body } = request;
      const { agent_type: type, name } = request.query;
      if (!body && (type === undefined || name === undefined)) {
        throw new ValidationFailedError([
          ...(type === undefined
            ? [{ loc: ['query', 'agent_type'], msg: 'Field required', type: 'missing' }]
            : []),
          ...(name === undefined ? [{ loc: ['query', 'name'], msg: 'Field required', type: 'missing' }] : []),
        ]);
      }
      const input = body ?? { name: name as string, type: type as string };
      const created = await agents.create(agentCaller(request), {
        ...(input.id === undefined ? {} : { id: input.id }),
        name: input.name,
        type: input.type,
        ...fieldsOf(input),
      });
      return reply.code(201).send(agentItem(created));
    },
  );

  app.put(
    '/:agent_id',
    {
      onRequest: app.authenticate,
      schema: {
        tags,
        summary: 'Change an agent (yours; any for a superuser)',
        security,
        params: AgentIdParams,
        body: UpdateAgentBody,
        response: { 200: Agent },
      },
    },
    async (request) =>
      agentItem(await agents.update(agentCaller(request), request.params.agent_id, fieldsOf(request.body))),
  );

  app.delete(
    '/:agent_id',
    {
      onRequest: app.authenticate,
      schema: {
        tags,
        summary: 'Delete an agent (yours; any for a superuser)',
        security,
        params: AgentIdParams,
        response: {
          200: Type.Object({ status: Type.Literal('success'), message: Type.String(), id: Type.String() }),
        },
      },
    },
    async (request) => {
      const id = request.params.agent_id;
      await agents.delete(agentCaller(request), id);
      return { status: 'success' as const, message: `Agent ${id} deleted`, id };
    },
  );
};

/** The API's snake_case fields of an agent, as the service's. */
function fieldsOf(body: UpdateAgentBody) {
  return {
    ...(body.name === undefined ? {} : { name: body.name }),
    ...(body.type === undefined ? {} : { type: body.type }),
    ...(body.description === undefined ? {} : { description: body.description }),
    ...(body.capabilities === undefined ? {} : { capabilities: body.capabilities }),
    ...(body.endpoint === undefined ? {} : { endpoint: body.endpoint }),
    ...(body.model === undefined ? {} : { model: body.model }),
    ...(body.system_prompt === undefined ? {} : { systemPrompt: body.system_prompt }),
    ...(body.temperature === undefined ? {} : { temperature: body.temperature }),
    ...(body.max_tokens === undefined ? {} : { maxTokens: body.max_tokens }),
    ...(body.visibility === undefined ? {} : { visibility: body.visibility }),
  };
}
