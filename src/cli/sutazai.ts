#!/usr/bin/env node
// The `sutazai` command: serve | migrate | admin | help | version.
import { parseArgs } from 'node:util';
import { packageVersion } from '../lib/package-version.js';
import { ADMIN_USAGE, AdminUsageError, adminCommand } from './admin.js';
import { exitWithFailure } from './fail.js';
import { migrateCommand } from './migrate.js';
import { serveCommand } from './serve.js';

const USAGE = `Usage: sutazai <command> [options]

Commands:
  serve              Start the HTTP server (settings from the environment; see docs/configuration.md).
  migrate            Apply pending database migrations.
    --status         List pending migrations without applying them.
    --down           Revert the most recent migration.
  admin create-superuser --email <email> --username <name> [--full-name <name>] [--promote]
                     Create (or promote) a superuser; the password is asked for, or read from stdin.
  version            Print the version.
  help               Print this help.
`;

async function main(argv: string[]): Promise<void> {
  const [command = 'help', ...rest] = argv;
  switch (command) {
    case 'serve':
      parseArgs({ args: rest, options: {}, strict: true });
      await serveCommand();
      return;
    case 'migrate': {
      const { values } = parseArgs({
        args: rest,
        options: { down: { type: 'boolean', default: false }, status: { type: 'boolean', default: false } },
        strict: true,
      });
      await migrateCommand({ down: values.down, status: values.status });
      return;
    }
    case 'admin':
      await adminCommand(rest);
      return;
    case 'version':
    case '--version':
      console.log(packageVersion());
      return;
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return;
    default:
      console.error(`sutazai: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      process.exit(2);
  }
}

/** parseArgs rejects an unknown option or a stray argument with these codes: usage errors, like a bad command. */
function isUsageError(error: unknown): error is Error {
  return (
    error instanceof Error && String((error as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS_')
  );
}

const command = process.argv[2] ?? 'help';
main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof AdminUsageError) {
    console.error(`sutazai admin: ${error.message}\n\n${ADMIN_USAGE}`);
    process.exit(2);
  }
  if (isUsageError(error)) {
    console.error(`sutazai ${command}: ${error.message} (see: sutazai help)`);
    process.exit(2);
  }
  exitWithFailure(command, error);
});
