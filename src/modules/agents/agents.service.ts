// Agents: the built-in ones (seeded by migration 0009, owned by nobody) and those users create. A caller sees the
// public agents and its own; another user's private agent does not exist for it (404), another's public one may be
// read but not changed (403). Superusers may change any. Names and descriptions are stored exactly as sent.
import type { Clock } from '../../lib/clock.js';
import { cleanUserText } from '../../lib/user-text.js';
import { BadRequestError, ConflictError, ForbiddenError, NotFoundError } from '../../platform/errors.js';
import type { AgentStatus, AgentStatuses } from './agent-status.js';
import type { AgentFields, AgentRecord, AgentRepository } from './agents.repository.js';

export interface AgentCaller {
  userId: number;
  isSuperuser: boolean;
}

export interface AgentView extends AgentRecord {
  /** The URL of an external agent: its own, or AGENTS_BASE_URL with its port (built-in). */
  url: string | null;
  status: AgentStatus;
}

export type NewAgent = Partial<AgentFields> & { id?: string; name: string; type: string };

export interface AgentsServiceDeps {
  agents: AgentRepository;
  statuses: AgentStatuses;
  clock: Clock;
  baseUrl: string;
}

/** The longest id, as the column holds. */
export const AGENT_ID_MAX = 64;
export const AGENT_ID_PATTERN = '^[a-z0-9][a-z0-9_-]{0,63}$';
const AGENT_ID = new RegExp(AGENT_ID_PATTERN);

/** A slug of `name`: lower-case ASCII letters and digits joined by dashes; empty when nothing is left. */
export function slugOf(name: string): string {
  return (
    name
      .normalize('NFKD')
      // The accents NFKD took apart from their letters: "Ünï" becomes "uni".
      .replace(/\p{M}/gu, '')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, AGENT_ID_MAX)
      .replace(/-+$/, '')
  );
}

/** Ids that are paths of their own under /api/v1/agents: an agent with one could never be reached. */
const RESERVED_IDS = new Set(['create', 'metrics', 'model', 'models']);

/** Text as the chat stores it: lone surrogates replaced, NUL and other C0 controls but tab and newlines removed. */
function cleaned(fields: Partial<AgentFields>): Partial<AgentFields> {
  const clean = (text: string | null | undefined) => (typeof text === 'string' ? cleanUserText(text) : text);
  return {
    ...fields,
    ...(fields.name === undefined ? {} : { name: cleanUserText(fields.name) }),
    ...(fields.type === undefined ? {} : { type: cleanUserText(fields.type) }),
    ...(fields.description === undefined ? {} : { description: cleanUserText(fields.description) }),
    ...(fields.systemPrompt === undefined ? {} : { systemPrompt: clean(fields.systemPrompt) ?? null }),
    ...(fields.capabilities === undefined ? {} : { capabilities: fields.capabilities.map(cleanUserText) }),
  };
}

export function agentNotFound(id: string): NotFoundError {
  return new NotFoundError(`Agent ${id} not found`, 'agent_not_found');
}

export class AgentsService {
  constructor(private readonly deps: AgentsServiceDeps) {}

  async list(callerId: number | null, page: { skip: number; limit: number }): Promise<AgentView[]> {
    const records = await this.deps.agents.listVisible(callerId, page);
    // Concurrently: each probe waits at most AGENTS_PROBE_TIMEOUT_MS, and the list waits for the slowest only.
    return Promise.all(records.map((record) => this.view(record)));
  }

  count(callerId: number | null): Promise<number> {
    return this.deps.agents.countVisible(callerId);
  }

  async get(callerId: number | null, id: string): Promise<AgentView> {
    return this.view(await this.visible(callerId, id));
  }

  /** The agent if the caller may see it (public, or its own), without its status: what a chat needs. */
  find(callerId: number | null, id: string): Promise<AgentRecord> {
    return this.visible(callerId, id);
  }

  async create(caller: AgentCaller, input: NewAgent): Promise<AgentView> {
    this.checkEndpoint(caller, input.endpoint);
    const text = cleaned(input);
    const id = input.id ?? slugOf(text.name ?? '');
    if (RESERVED_IDS.has(id))
      throw new BadRequestError(`${id} is a path of the agents API: choose another id`, 'agent_id_reserved');
    if (!AGENT_ID.test(id))
      throw new BadRequestError(
        'The agent needs an id of lower-case letters, digits, - and _ (or a name that makes one)',
        'invalid_agent_id',
      );
    const fields: AgentFields = {
      name: text.name ?? '',
      type: text.type ?? '',
      description: text.description ?? '',
      capabilities: text.capabilities ?? [],
      endpoint: input.endpoint ?? null,
      model: input.model ?? null,
      systemPrompt: text.systemPrompt ?? null,
      temperature: input.temperature ?? null,
      maxTokens: input.maxTokens ?? null,
      visibility: input.visibility ?? 'private',
    };
    const created = await this.deps.agents.create(id, caller.userId, fields, this.deps.clock.now());
    if (created === 'duplicate') throw new ConflictError(`Agent ${id} already exists`, 'agent_exists');
    return this.view(created);
  }

  async update(caller: AgentCaller, id: string, patch: Partial<AgentFields>): Promise<AgentView> {
    await this.changeable(caller, id);
    this.checkEndpoint(caller, patch.endpoint);
    const updated = await this.deps.agents.update(id, cleaned(patch), this.deps.clock.now());
    if (!updated) throw agentNotFound(id);
    return this.view(updated);
  }

  async delete(caller: AgentCaller, id: string): Promise<void> {
    await this.changeable(caller, id);
    if (!(await this.deps.agents.delete(id))) throw agentNotFound(id);
  }

  /** The agent if the caller may see it: public, or its own. */
  private async visible(callerId: number | null, id: string): Promise<AgentRecord> {
    const agent = await this.deps.agents.find(id);
    if (!agent || (agent.visibility === 'private' && agent.ownerId !== callerId)) throw agentNotFound(id);
    return agent;
  }

  /** The agent if the caller may change it: its own, or any for a superuser. */
  private async changeable(caller: AgentCaller, id: string): Promise<AgentRecord> {
    const agent = await this.deps.agents.find(id);
    if (!agent) throw agentNotFound(id);
    if (caller.isSuperuser || agent.ownerId === caller.userId) return agent;
    if (agent.visibility === 'private') throw agentNotFound(id);
    throw new ForbiddenError(`Agent ${id} is not yours to change`, 'agent_not_owned');
  }

  /**
   * The server itself requests an agent's endpoint (its /health): only a superuser may name one, so that no user can
   * make the server probe addresses of its own network for them.
   */
  private checkEndpoint(caller: AgentCaller, endpoint: string | null | undefined): void {
    if (endpoint != null && !caller.isSuperuser)
      throw new ForbiddenError('Only a superuser may set an agent endpoint', 'endpoint_not_allowed');
  }

  private async view(record: AgentRecord): Promise<AgentView> {
    const url = record.endpoint ?? (record.port === null ? null : `${this.deps.baseUrl}:${record.port}`);
    // An LLM-backed agent's status is its model's; only an external one (no model) is probed.
    const status = await this.deps.statuses.of({
      endpoint: record.model === null ? url : null,
      model: record.model,
    });
    return { ...record, url, status };
  }
}
