// SQL of agents. Records come back with Dates and parsed JSON whatever the dialect (jsonb arrives parsed from
// PostgreSQL, text from SQLite).
import type { Kysely, Selectable } from 'kysely';
import type { AgentVisibility, AgentsTable, DB } from '../../platform/db/schema.js';
import { isUniqueViolation } from '../../platform/db/constraint-errors.js';
import { toDate } from '../../platform/db/values.js';

export interface AgentRecord {
  id: string;
  name: string;
  type: string;
  description: string;
  capabilities: string[];
  endpoint: string | null;
  port: number | null;
  model: string | null;
  systemPrompt: string | null;
  temperature: number | null;
  maxTokens: number | null;
  extra: Record<string, unknown> | null;
  visibility: AgentVisibility;
  ownerId: number | null;
  createdAt: Date;
  updatedAt: Date;
}

export type AgentFields = Omit<AgentRecord, 'id' | 'port' | 'extra' | 'ownerId' | 'createdAt' | 'updatedAt'>;

function json(value: unknown): unknown {
  return typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
}

function toRecord(row: Selectable<AgentsTable>): AgentRecord {
  const capabilities = json(row.capabilities);
  const extra = json(row.extra);
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    description: row.description,
    capabilities: Array.isArray(capabilities) ? capabilities.map(String) : [],
    endpoint: row.endpoint,
    port: row.port,
    model: row.model,
    systemPrompt: row.system_prompt,
    temperature: row.temperature,
    maxTokens: row.max_tokens,
    extra: extra !== null && typeof extra === 'object' ? (extra as Record<string, unknown>) : null,
    visibility: row.visibility,
    ownerId: row.owner_id,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

function columns(fields: Partial<AgentFields>) {
  return {
    ...(fields.name === undefined ? {} : { name: fields.name }),
    ...(fields.type === undefined ? {} : { type: fields.type }),
    ...(fields.description === undefined ? {} : { description: fields.description }),
    ...(fields.capabilities === undefined ? {} : { capabilities: JSON.stringify(fields.capabilities) }),
    ...(fields.endpoint === undefined ? {} : { endpoint: fields.endpoint }),
    ...(fields.model === undefined ? {} : { model: fields.model }),
    ...(fields.systemPrompt === undefined ? {} : { system_prompt: fields.systemPrompt }),
    ...(fields.temperature === undefined ? {} : { temperature: fields.temperature }),
    ...(fields.maxTokens === undefined ? {} : { max_tokens: fields.maxTokens }),
    ...(fields.visibility === undefined ? {} : { visibility: fields.visibility }),
  };
}

export class AgentRepository {
  constructor(private readonly db: Kysely<DB>) {}

  /** The public agents and `userId`'s own (none but the public ones for an anonymous caller), by id. */
  async listVisible(userId: number | null, page: { skip: number; limit: number }): Promise<AgentRecord[]> {
    let query = this.db.selectFrom('agents').selectAll();
    query =
      userId === null
        ? query.where('visibility', '=', 'public')
        : query.where((eb) => eb.or([eb('visibility', '=', 'public'), eb('owner_id', '=', userId)]));
    const rows = await query.orderBy('id').offset(page.skip).limit(page.limit).execute();
    return rows.map(toRecord);
  }

  async countVisible(userId: number | null): Promise<number> {
    let query = this.db.selectFrom('agents').select((eb) => eb.fn.countAll<number | string>().as('n'));
    query =
      userId === null
        ? query.where('visibility', '=', 'public')
        : query.where((eb) => eb.or([eb('visibility', '=', 'public'), eb('owner_id', '=', userId)]));
    const row = await query.executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async find(id: string): Promise<AgentRecord | undefined> {
    const row = await this.db.selectFrom('agents').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toRecord(row);
  }

  /** The new agent, or 'duplicate' when its id is taken. */
  async create(
    id: string,
    ownerId: number,
    fields: AgentFields,
    now: Date,
  ): Promise<AgentRecord | 'duplicate'> {
    try {
      const row = await this.db
        .insertInto('agents')
        .values({
          id,
          ...columns(fields),
          name: fields.name,
          type: fields.type,
          capabilities: JSON.stringify(fields.capabilities),
          owner_id: ownerId,
          created_at: now,
          updated_at: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toRecord(row);
    } catch (error) {
      if (isUniqueViolation(error)) return 'duplicate';
      throw error;
    }
  }

  /** The agent after the change; undefined when it is gone. */
  async update(id: string, fields: Partial<AgentFields>, now: Date): Promise<AgentRecord | undefined> {
    const row = await this.db
      .updateTable('agents')
      .set({ ...columns(fields), updated_at: now })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return row && toRecord(row);
  }

  /**
   * Deletes the agent, and its name from the chat sessions that chat through it: a later agent given the same id
   * (by anyone) must not take those sessions over.
   */
  async delete(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const result = await trx.deleteFrom('agents').where('id', '=', id).executeTakeFirst();
      if (Number(result.numDeletedRows) === 0) return false;
      await trx.updateTable('chat_sessions').set({ agent: null }).where('agent', '=', id).execute();
      return true;
    });
  }
}
