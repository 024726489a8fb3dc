// Runs the migrations of migrations/index.ts on either dialect. On PostgreSQL, Kysely's migrator takes an advisory
// lock, so several instances starting together migrate once.
import { Migrator, type Kysely, type MigrationResult } from 'kysely';
import { migrations } from './migrations/index.js';

export interface MigrationOutcome {
  applied: string[];
  error?: Error;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the migrator works below the typed schema
function migratorFor(db: Kysely<any>): Migrator {
  return new Migrator({ db, provider: { getMigrations: () => Promise.resolve(migrations) } });
}

function outcome(results: MigrationResult[] | undefined, error: unknown): MigrationOutcome {
  const applied = (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  if (error === undefined) return { applied };
  const failed = results?.find((r) => r.status === 'Error')?.migrationName;
  const cause = error instanceof Error ? error : new Error(JSON.stringify(error));
  return {
    applied,
    error: new Error(`migration ${failed ?? '(setup)'} failed: ${cause.message}`, { cause }),
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
export async function migrateToLatest(db: Kysely<any>): Promise<MigrationOutcome> {
  const { results, error } = await migratorFor(db).migrateToLatest();
  return outcome(results, error);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
export async function migrateDown(db: Kysely<any>): Promise<MigrationOutcome> {
  const { results, error } = await migratorFor(db).migrateDown();
  return outcome(results, error);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
export async function pendingMigrations(db: Kysely<any>): Promise<string[]> {
  const all = await migratorFor(db).getMigrations();
  return all.filter((m) => m.executedAt === undefined).map((m) => m.name);
}
