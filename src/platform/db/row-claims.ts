// Claiming rows that several workers (processes or instances) pick work from, such as the mail outbox.
import type { SelectQueryBuilder } from 'kysely';
import type { Dialect } from '../../config.js';

/**
 * The select of a claim, made safe against concurrent claimers. On PostgreSQL, FOR UPDATE SKIP LOCKED: a row another
 * transaction is claiming is skipped rather than waited for (or claimed twice). SQLite has no FOR UPDATE and needs
 * none: it runs one writer at a time, so the UPDATE … WHERE id IN (this select) around it is atomic already.
 */
export function lockedForClaim<DB, TB extends keyof DB, O>(
  query: SelectQueryBuilder<DB, TB, O>,
  dialect: Dialect,
): SelectQueryBuilder<DB, TB, O> {
  return dialect === 'postgres' ? query.forUpdate().skipLocked() : query;
}
