// `sutazai migrate [--down] [--status]`: applies (or reverts one of, or lists) the database migrations.
import { parseConfig } from '../config.js';
import { packageVersion } from '../lib/package-version.js';
import { migrateDown, migrateToLatest, pendingMigrations } from '../platform/db/migrator.js';
import { openReachableDatabase } from '../platform/db/open-database.js';

export async function migrateCommand(args: { down: boolean; status: boolean }): Promise<void> {
  const config = parseConfig(process.env, packageVersion());
  const database = await openReachableDatabase(config.db);
  try {
    if (args.status) {
      const pending = await pendingMigrations(database.db);
      console.log(
        pending.length === 0 ? 'database is up to date' : `pending migrations: ${pending.join(', ')}`,
      );
      return;
    }
    const { applied, error } = args.down
      ? await migrateDown(database.db)
      : await migrateToLatest(database.db);
    for (const name of applied) console.log(`${args.down ? 'reverted' : 'applied'} ${name}`);
    if (error) throw error;
    if (applied.length === 0) console.log(args.down ? 'nothing to revert' : 'database is up to date');
  } finally {
    await database.destroy();
  }
}
