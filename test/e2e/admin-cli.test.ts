// `sutazai admin create-superuser` (the built CLI, as installed), against the database of a running test app: the
// password comes on standard input, never as an argument and never echoed; the superuser it makes can log in and
// list users through the API.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { bearer, login, newUser, register } from '../helpers/auth.js';
import { describeEachDialect } from '../helpers/dialects.js';
import { BUILT_CLI, REPO_ROOT } from '../helpers/spawn.js';

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const running = new Set<ChildProcess>();
const TIMEOUT_MS = 30_000;

/** Runs the built CLI with `stdin` piped in (spawnCli's stdin is closed), bounded, with exactly `env`. */
function runWithStdin(args: string[], env: Record<string, string>, stdin: string): Promise<CliResult> {
  const child = spawn(process.execPath, [BUILT_CLI, ...args], { cwd: REPO_ROOT, env, stdio: 'pipe' });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  // A usage error exits before reading standard input: writing to it then fails with EPIPE, which is fine.
  child.stdin.on('error', () => undefined);
  child.stdin.end(stdin);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`sutazai ${args.join(' ')} did not exit within ${TIMEOUT_MS} ms\n${stdout}\n${stderr}`),
      );
    }, TIMEOUT_MS);
    child.once('close', (code) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

const password = () => `Cli!Pass${randomBytes(6).toString('hex')}9Z`;

describeEachDialect('sutazai admin create-superuser', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ dialect });
  });
  afterEach(() => {
    for (const child of running) child.kill('SIGKILL');
  });
  afterAll(() => t?.close());

  /** Runs the command against the test app's database; the password must never appear in what it prints. */
  async function admin(args: string[], secret: string): Promise<CliResult> {
    const result = await runWithStdin(
      ['admin', ...args],
      {
        ENVIRONMENT: 'test',
        DATA_DIR: t.database.dataDir,
        DATABASE_URL: t.database.url,
        BCRYPT_ROUNDS: '4',
        LOG_LEVEL: 'info',
      },
      `${secret}\n`,
    );
    expect(result.stdout).not.toContain(secret);
    expect(result.stderr).not.toContain(secret);
    return result;
  }

  const userRow = (username: string) =>
    t.app.database.db
      .selectFrom('users')
      .select(['id', 'email', 'is_superuser', 'is_verified', 'is_active'])
      .where('username', '=', username)
      .executeTakeFirst();

  const listUsers = (token: string) =>
    t.app.inject({ method: 'GET', url: '/api/v1/auth/users', headers: bearer(token) });

  it('creates a verified superuser from the password on stdin, who can log in and list users', async () => {
    const user = newUser();
    const secret = password();
    const result = await admin(
      [
        'create-superuser',
        '--email',
        user.email.toUpperCase(),
        '--username',
        user.username,
        '--full-name',
        'Root',
      ],
      secret,
    );
    expect(result, result.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(
      new RegExp(
        `^created superuser ${user.username} <${user.email.replace(/\./g, '\\.')}> \\(id \\d+\\)\\n$`,
      ),
    );

    const row = await userRow(user.username);
    expect(row).toMatchObject({ email: user.email });
    expect(Boolean(row?.is_superuser)).toBe(true);
    expect(Boolean(row?.is_verified)).toBe(true);

    const tokens = await login(t.app, user.username, secret);
    const page = await listUsers(tokens.access_token);
    expect(page.statusCode, page.body).toBe(200);
    expect(page.json<{ items: { username: string }[] }>().items.map((u) => u.username)).toContain(
      user.username,
    );
    const profile = await t.app.inject({
      method: 'GET',
      url: '/api/v1/auth/me',
      headers: bearer(tokens.access_token),
    });
    expect(profile.json()).toMatchObject({ username: user.username, full_name: 'Root', is_superuser: true });
  });

  it('refuses a weak password: exit 1 with the policy message, nothing created', async () => {
    const user = newUser();
    const result = await admin(
      ['create-superuser', '--email', user.email, '--username', user.username],
      'weakpassword',
    );
    expect(result).toMatchObject({ code: 1, stdout: '' });
    expect(result.stderr).toContain('Password must contain at least one uppercase letter');
    expect(await userRow(user.username)).toBeUndefined();
  });

  it('refuses a taken username (exit 1) and leaves that account as it was', async () => {
    const existing = await register(t.app, newUser());
    const result = await admin(
      ['create-superuser', '--email', newUser().email, '--username', existing.username],
      password(),
    );
    expect(result).toMatchObject({ code: 1, stdout: '' });
    expect(result.stderr).toContain('Username already taken');
    expect(Boolean((await userRow(existing.username))?.is_superuser)).toBe(false);
    await login(t.app, existing.username, existing.password);
  });

  it('--promote with the same username and email makes the existing account a superuser with the new password', async () => {
    const existing = await register(t.app, newUser());
    const before = await login(t.app, existing.username, existing.password);
    const mismatched = await admin(
      ['create-superuser', '--email', newUser().email, '--username', existing.username, '--promote'],
      password(),
    );
    expect(mismatched.code).toBe(1);
    expect(Boolean((await userRow(existing.username))?.is_superuser)).toBe(false);

    const secret = password();
    const result = await admin(
      ['create-superuser', '--email', existing.email, '--username', existing.username, '--promote'],
      secret,
    );
    expect(result, result.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toBe(
      `promoted superuser ${existing.username} <${existing.email}> (id ${existing.id})\n`,
    );
    expect(Boolean((await userRow(existing.username))?.is_superuser)).toBe(true);

    const old = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: existing.username, password: existing.password },
    });
    expect(old.statusCode).toBe(401);
    // Tokens issued under the old password end with it, as after a password reset.
    const me = await t.app.inject({ url: '/api/v1/auth/me', headers: bearer(before.access_token) });
    expect(me.statusCode).toBe(401);
    const refreshed = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refresh_token: before.refresh_token },
    });
    expect(refreshed.statusCode).toBe(401);
    const tokens = await login(t.app, existing.username, secret);
    expect((await listUsers(tokens.access_token)).statusCode).toBe(200);
  });

  it('usage errors exit 2 with the usage text: a missing --email or --username, an unknown subcommand', async () => {
    const user = newUser();
    const secret = password();
    for (const args of [
      ['create-superuser', '--username', user.username],
      ['create-superuser', '--email', user.email],
      ['make-superuser', '--email', user.email, '--username', user.username],
      [],
    ]) {
      const result = await admin(args, secret);
      expect(result, `${args.join(' ')}\n${result.stderr}`).toMatchObject({ code: 2, stdout: '' });
      expect(result.stderr).toMatch(/^sutazai admin: /);
      expect(result.stderr).toContain(
        'Usage: sutazai admin create-superuser --email <email> --username <name>',
      );
    }
    const unknown = await admin(['make-superuser'], secret);
    expect(unknown.stderr).toContain('unknown subcommand "make-superuser"');
    expect(await userRow(user.username)).toBeUndefined();
  });

  it('fails (exit 1) when standard input holds no password, creating nothing', async () => {
    const user = newUser();
    const env = { ENVIRONMENT: 'test', DATA_DIR: t.database.dataDir, DATABASE_URL: t.database.url };
    const result = await runWithStdin(
      ['admin', 'create-superuser', '--email', user.email, '--username', user.username],
      env,
      '',
    );
    expect(result).toMatchObject({ code: 1, stdout: '' });
    expect(result.stderr).toContain('no password on standard input');
    expect(await userRow(user.username)).toBeUndefined();
  });

  it('refuses an unknown option with exit 2', async () => {
    const user = newUser();
    const result = await admin(
      ['create-superuser', '--email', user.email, '--username', user.username, '--password', 'x'],
      password(),
    );
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(await userRow(user.username)).toBeUndefined();
  });
});
