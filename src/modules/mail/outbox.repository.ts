// SQL of the mail outbox: mail written in the transaction of the change that sends it, then claimed, leased and
// marked by the sender loops of every instance.
import type { ExpressionBuilder, Selectable } from 'kysely';
import type { Dialect } from '../../config.js';
import { lockedForClaim } from '../../platform/db/row-claims.js';
import type { DB, EmailOutboxTable, OutboxStatus } from '../../platform/db/schema.js';
import { Repository, type DbExecutor, type Tx } from '../../platform/db/transactions.js';
import { toDate } from '../../platform/db/values.js';
import type { OutgoingMail } from './mail.types.js';

export interface OutboxRecord {
  id: number;
  kind: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  headers: Record<string, string>;
  status: OutboxStatus;
  attempts: number;
  nextAttemptAt: Date;
  lockedUntil: Date | null;
  lastError: string | null;
  createdAt: Date;
  sentAt: Date | null;
}

/** A mail leased by claimDue: `lockedUntil` is the lease, which also tells this claim from any later one. */
export interface ClaimedMail extends OutboxRecord {
  lockedUntil: Date;
}

/** Due now, and not leased by a live sender (an expired lease is a sender that died mid-send: take it over). */
function due(eb: ExpressionBuilder<DB, 'email_outbox'>, now: Date) {
  return eb.and([
    eb('status', '=', 'pending'),
    eb('next_attempt_at', '<=', now),
    eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', now)]),
  ]);
}

export class OutboxRepository extends Repository {
  readonly #dialect: Dialect;

  constructor(database: { db: DbExecutor; dialect: Dialect }) {
    super(database.db);
    this.#dialect = database.dialect;
  }

  /** Adds a pending mail, due at once, in the caller's transaction (or on its own without one). */
  async enqueue(mail: OutgoingMail, now: Date, tx?: Tx): Promise<number> {
    const row = await this.on(tx)
      .insertInto('email_outbox')
      .values({
        kind: mail.kind,
        recipient: mail.to,
        subject: mail.subject,
        text_body: mail.text,
        html_body: mail.html,
        headers: JSON.stringify(mail.headers ?? {}),
        next_attempt_at: now,
        created_at: now,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  }

  /**
   * Leases up to `limit` due mails to the caller until now + leaseMs, oldest first, and returns them. Two claimers
   * never get the same row: the select locks (PostgreSQL) or the statement runs alone (SQLite), and the outer WHERE
   * repeats the conditions so that a row another claimer leased meanwhile no longer matches when re-read.
   */
  async claimDue(now: Date, limit: number, leaseMs: number, tx?: Tx): Promise<ClaimedMail[]> {
    const lockedUntil = new Date(now.getTime() + leaseMs);
    const rows = await this.on(tx)
      // MATERIALIZED: evaluated once. As a plain `id IN (select … limit)`, PostgreSQL may plan the select as the
      // inner side of a nested loop and run it again for each row, each run skipping the rows the previous ones
      // locked: a claim of one row then leased every due row.
      .with(
        (cte) => cte('claimable').materialized(),
        (db) =>
          lockedForClaim(
            db
              .selectFrom('email_outbox')
              .select('id')
              .where((eb) => due(eb, now))
              .orderBy('next_attempt_at')
              .orderBy('id')
              .limit(limit),
            this.#dialect,
          ),
      )
      .updateTable('email_outbox')
      .set({ locked_until: lockedUntil })
      .where('id', 'in', (eb) => eb.selectFrom('claimable').select('claimable.id'))
      .where((eb) => due(eb, now))
      .returningAll()
      .execute();
    return rows
      .map((row) => ({ ...toRecord(row), lockedUntil }))
      .sort((a, b) => a.nextAttemptAt.getTime() - b.nextAttemptAt.getTime() || a.id - b.id);
  }

  /** Unconditional: once the server took the mail it is sent, whoever holds the lease now. */
  async markSent(id: number, now: Date, tx?: Tx): Promise<void> {
    await this.on(tx)
      .updateTable('email_outbox')
      .set({ status: 'sent', sent_at: now, locked_until: null, last_error: null })
      .where('id', '=', id)
      .execute();
  }

  /**
   * Records a failed attempt and when to try again; false when the lease was lost. Only under this claim's own
   * lease: a sender whose lease ran out while it waited on SMTP must not release a row another sender has since
   * claimed (a third could then send it again) or turn back one already delivered.
   */
  async markRetry(
    mail: ClaimedMail,
    attempts: number,
    nextAttemptAt: Date,
    error: string,
    tx?: Tx,
  ): Promise<boolean> {
    const result = await this.on(tx)
      .updateTable('email_outbox')
      .set({ attempts, next_attempt_at: nextAttemptAt, locked_until: null, last_error: error })
      .where('id', '=', mail.id)
      .where('status', '=', 'pending')
      .where('locked_until', '=', mail.lockedUntil)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Gives up on a mail (under this claim's lease, as markRetry): it stays in the table with its last error. */
  async markFailed(mail: ClaimedMail, attempts: number, error: string, tx?: Tx): Promise<boolean> {
    const result = await this.on(tx)
      .updateTable('email_outbox')
      .set({ status: 'failed', attempts, locked_until: null, last_error: error })
      .where('id', '=', mail.id)
      .where('status', '=', 'pending')
      .where('locked_until', '=', mail.lockedUntil)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async countByStatus(tx?: Tx): Promise<Record<OutboxStatus, number>> {
    const rows = await this.on(tx)
      .selectFrom('email_outbox')
      .select(['status', (eb) => eb.fn.countAll<number | string | bigint>().as('count')])
      .groupBy('status')
      .execute();
    const counts: Record<OutboxStatus, number> = { pending: 0, sent: 0, failed: 0 };
    for (const row of rows) counts[row.status] = Number(row.count);
    return counts;
  }

  /** Mails by id, newest first; of one status when given. */
  async list(options: { status?: OutboxStatus; limit?: number } = {}, tx?: Tx): Promise<OutboxRecord[]> {
    let query = this.on(tx)
      .selectFrom('email_outbox')
      .selectAll()
      .orderBy('id', 'desc')
      .limit(options.limit ?? 100);
    if (options.status) query = query.where('status', '=', options.status);
    return (await query.execute()).map(toRecord);
  }

  async findById(id: number, tx?: Tx): Promise<OutboxRecord | undefined> {
    const row = await this.on(tx)
      .selectFrom('email_outbox')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toRecord(row);
  }
}

function toRecord(row: Selectable<EmailOutboxTable>): OutboxRecord {
  return {
    id: row.id,
    kind: row.kind,
    to: row.recipient,
    subject: row.subject,
    text: row.text_body,
    html: row.html_body,
    // jsonb comes back parsed from PostgreSQL; SQLite's text column holds the JSON as written.
    headers:
      typeof row.headers === 'string' ? (JSON.parse(row.headers) as Record<string, string>) : row.headers,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: toDate(row.next_attempt_at),
    lockedUntil: toDate(row.locked_until),
    lastError: row.last_error,
    createdAt: toDate(row.created_at),
    sentAt: toDate(row.sent_at),
  };
}
