// `sutazai admin create-superuser`: the only way to make a superuser (the original let anyone register as one).
// The password is never an argument (it would sit in shell history and `ps`): it is typed twice at a terminal
// without echo, or read as the first line of standard input when that is not a terminal.
import readline from 'node:readline';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { parseConfig } from '../config.js';
import { packageVersion } from '../lib/package-version.js';
import { createSuperuserService } from '../modules/auth/index.js';
import { migrateOrFail, openReachableDatabase } from '../platform/db/open-database.js';

export const ADMIN_USAGE = `Usage: sutazai admin create-superuser --email <email> --username <name> [--full-name <name>] [--promote]

  Creates a verified superuser. The password is asked twice at a terminal, or read from the first line of
  standard input (for example: printf '%s\\n' "$PASSWORD" | sutazai admin create-superuser ...).
  --promote   make an existing account with this username and email a superuser, and set its password.
`;

/** A usage mistake: exit 2 with the usage text. */
export class AdminUsageError extends Error {}

async function readPasswordFromTerminal(): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (!muted) process.stdout.write(chunk);
      callback();
    },
  });
  const rl = readline.createInterface({ input: process.stdin, output, terminal: true });
  const ask = (prompt: string) =>
    new Promise<string>((resolve) => {
      muted = false;
      rl.question(prompt, (answer) => {
        process.stdout.write('\n');
        resolve(answer);
      });
      muted = true;
    });
  try {
    const first = await ask('Password: ');
    const second = await ask('Password (again): ');
    if (first !== second) throw new Error('the two passwords differ');
    return first;
  } finally {
    rl.close();
  }
}

async function readPasswordFromStdin(): Promise<string> {
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  try {
    for await (const line of rl) return line.replace(/\r$/, '');
    throw new Error('no password on standard input');
  } finally {
    rl.close();
  }
}

export async function adminCommand(args: string[]): Promise<void> {
  const [subcommand, ...rest] = args;
  if (subcommand !== 'create-superuser') {
    throw new AdminUsageError(
      subcommand === undefined ? 'missing subcommand' : `unknown subcommand ${JSON.stringify(subcommand)}`,
    );
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      email: { type: 'string' },
      username: { type: 'string' },
      'full-name': { type: 'string' },
      promote: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (!values.email || !values.username) throw new AdminUsageError('--email and --username are required');

  const config = parseConfig(process.env, packageVersion());
  const password = process.stdin.isTTY ? await readPasswordFromTerminal() : await readPasswordFromStdin();
  const database = await openReachableDatabase(config.db);
  try {
    await migrateOrFail(database);
    const { user, created } = await createSuperuserService(database, config.auth).createSuperuser({
      email: values.email,
      username: values.username,
      password,
      fullName: values['full-name'] ?? null,
      promote: values.promote,
    });
    console.log(
      `${created ? 'created' : 'promoted'} superuser ${user.username} <${user.email}> (id ${user.id})`,
    );
  } finally {
    await database.destroy();
  }
}
