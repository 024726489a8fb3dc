// Shapes of /api/v1/agents: the original's agent entries (reference §6.2) with the fields of a persisted agent added.
import { Type, type Static, type TSchema } from 'typebox';
import { MAX_PAGE_SIZE, OffsetPageSchema } from '../../platform/pagination.js';
import { MODEL_PATTERN } from '../llm/index.js';
import { AGENT_ID_PATTERN } from './agents.service.js';

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const AgentIdParams = Type.Object({ agent_id: Type.String({ pattern: AGENT_ID_PATTERN }) });

const Name = Type.String({ minLength: 1, maxLength: 200, description: 'Kept exactly as sent.' });
const AgentType = Type.String({ minLength: 1, maxLength: 64 });
const Description = Type.String({ maxLength: 4000, description: 'Kept exactly as sent.' });
const Capabilities = Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 32 });
const Endpoint = Type.String({
  maxLength: 2048,
  pattern: '^https?://[^\\s]+$',
  description: 'An external agent service (superusers only): its /health is probed.',
});
const Model = Type.String({ minLength: 1, pattern: MODEL_PATTERN });
const SystemPrompt = Type.String({ maxLength: 20_000 });
const Temperature = Type.Number({ minimum: 0, maximum: 2 });
const MaxTokens = Type.Integer({ minimum: 1, maximum: 1_000_000 });
const Visibility = Type.Union([Type.Literal('public'), Type.Literal('private')]);

const editable = {
  name: Name,
  type: AgentType,
  description: Description,
  capabilities: Capabilities,
  endpoint: Nullable(Endpoint),
  model: Nullable(Model),
  system_prompt: Nullable(SystemPrompt),
  temperature: Nullable(Temperature),
  max_tokens: Nullable(MaxTokens),
  visibility: Visibility,
};

export const CreateAgentFields = Type.Object({
  id: Type.Optional(
    Type.String({ pattern: AGENT_ID_PATTERN, description: 'A slug; from the name when absent.' }),
  ),
  name: Name,
  type: AgentType,
  description: Type.Optional(editable.description),
  capabilities: Type.Optional(editable.capabilities),
  endpoint: Type.Optional(editable.endpoint),
  model: Type.Optional(editable.model),
  system_prompt: Type.Optional(editable.system_prompt),
  temperature: Type.Optional(editable.temperature),
  max_tokens: Type.Optional(editable.max_tokens),
  visibility: Type.Optional(editable.visibility),
});
export type CreateAgentFields = Static<typeof CreateAgentFields>;
/** The JSON body, or none (the query form): an absent body is read as null (agents.routes.ts). */
export const CreateAgentBody = Type.Union([CreateAgentFields, Type.Null()]);

/** The original's form: POST /api/v1/agents/create?agent_type=&name= (a JSON body may be sent instead). */
export const CreateAgentQuery = Type.Object({
  agent_type: Type.Optional(AgentType),
  name: Type.Optional(Name),
});

export const UpdateAgentBody = Type.Partial(Type.Object(editable), { minProperties: 1 });
export type UpdateAgentBody = Static<typeof UpdateAgentBody>;

/** Without defaults (those of Skip and Limit would turn every list into a page): absent means the bare array. */
export const AgentsQuery = Type.Object({
  skip: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE })),
});

export const Agent = Type.Object({
  id: Type.String(),
  name: Type.String(),
  type: Type.String(),
  description: Type.String(),
  capabilities: Type.Array(Type.String()),
  endpoint: Nullable(Type.String()),
  port: Nullable(Type.Integer()),
  status: Type.Union([
    Type.Literal('active'),
    Type.Literal('unreachable'),
    Type.Literal('model_unavailable'),
  ]),
  model: Nullable(Type.String()),
  system_prompt: Nullable(Type.String()),
  temperature: Nullable(Type.Number()),
  max_tokens: Nullable(Type.Integer()),
  visibility: Visibility,
  owner_id: Nullable(Type.Integer()),
  built_in: Type.Boolean(),
  created_at: Type.String(),
  updated_at: Type.String(),
  // The original tinyllama entry's extra fields.
  provider: Type.Optional(Type.String()),
  local: Type.Optional(Type.Boolean()),
});

export const AgentList = Type.Union([Type.Array(Agent), OffsetPageSchema(Agent)]);

export const ModelIdParams = Type.Object({ model_id: Type.String({ minLength: 1, maxLength: 255 }) });

const ModelFields = {
  name: Type.String(),
  provider: Type.String(),
  capabilities: Type.Array(Type.String()),
  max_tokens: Nullable(Type.Integer()),
  cost_per_1k: Type.Number(),
  latency: Nullable(Type.Number()),
  quality: Nullable(Type.Number()),
  local: Type.Boolean(),
  status: Type.Union([Type.Literal('available'), Type.Literal('api_required')], {
    description: 'available: the provider serves it now; api_required: it does not (as the original said).',
  }),
};

export const ModelCatalog = Type.Object({
  models: Type.Record(Type.String(), Type.Object(ModelFields)),
  count: Type.Integer(),
  providers: Type.Array(Type.String()),
  provider_available: Type.Boolean({ description: 'false: the provider could not be asked.' }),
});

export const AgentMetricsSchema = Type.Object({
  jarvis: Type.Object({
    total_requests: Type.Number(),
    successful_requests: Type.Number(),
    failed_requests: Type.Number(),
    average_latency: Type.Number({ description: 'Seconds.' }),
    resource_violations: Type.Number(),
    emergency_shutdowns: Type.Number(),
    model_switches: Type.Number(),
    thermal_throttles: Type.Number(),
  }),
  active_models: Type.Integer(),
  total_models: Type.Integer(),
  timestamp: Type.String({
    description: 'Python’s str(datetime), as the original: "2025-11-17 12:00:00.123000".',
  }),
});

export const ModelDetail = Type.Object({ id: Type.String(), ...ModelFields });
