// `sutazai serve` refusing to start: exit 1 with one clear line on stderr (a list, for configuration), no stack
// trace, no password, and nothing left running.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { killSpawned, runCli } from '../helpers/spawn.js';

const STACK_FRAME = /^\s+at /m;

describe('sutazai serve startup failures', () => {
  let dataDir: string;
  let blocker: net.Server | undefined;
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sutazai-e2e-startup-'));
  });
  afterEach(async () => {
    await killSpawned();
    await new Promise<void>((resolve) => (blocker ? blocker.close(() => resolve()) : resolve()));
    blocker = undefined;
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** A working environment (SQLite in a temp folder, a free port, info logs) with `overrides` applied. */
  const serve = (overrides: Record<string, string>) =>
    runCli(['serve'], {
      ENVIRONMENT: 'test',
      DATA_DIR: dataDir,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      ...overrides,
    });

  /** Exit 1 and exactly one line on stderr, no stack trace; returns that line. */
  const oneLineFailure = (result: Awaited<ReturnType<typeof serve>>): string => {
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 1, signal: null });
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines, result.stderr).toHaveLength(1);
    expect(result.stderr).not.toMatch(STACK_FRAME);
    return lines[0] ?? '';
  };

  it('lists every invalid setting at once (PORT=abc, LOG_LEVEL=loud) and exits 1', async () => {
    const result = await serve({ PORT: 'abc', LOG_LEVEL: 'loud' });
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 1, signal: null });
    expect(result.stderr).toMatch(/^sutazai serve: Invalid configuration:\n/);
    expect(result.stderr).toMatch(/^ {2}- PORT: must be .*\(got "abc"\)$/m);
    expect(result.stderr).toMatch(/^ {2}- LOG_LEVEL: must be one of fatal, error, .*\(got "loud"\)$/m);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(3); // the heading and one line per setting
    expect(result.stderr).not.toMatch(STACK_FRAME);
    expect(result.stdout).toBe('');
  });

  it('refuses production without JWT_SECRET_KEY, and writes no development secret instead', async () => {
    const result = await serve({ ENVIRONMENT: 'production' });
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 1, signal: null });
    expect(result.stderr).toContain('JWT_SECRET_KEY: must be set in production');
    expect(result.stderr).not.toMatch(STACK_FRAME);
    expect(fs.existsSync(path.join(dataDir, 'jwt-secret'))).toBe(false);
  });

  it('names an unreachable PostgreSQL without printing its password', async () => {
    const result = await serve({ DATABASE_URL: 'postgres://u:secretpw@127.0.0.1:1/x' });
    const line = oneLineFailure(result);
    expect(line).toMatch(/^sutazai serve: Database \(postgres\) at postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/x/);
    expect(line).toContain('is unreachable: connect ECONNREFUSED 127.0.0.1:1');
    expect(result.stderr + result.stdout).not.toContain('secretpw');
  });

  it('names an unreachable Redis (REDIS_URL set) without printing its password', async () => {
    const result = await serve({ REDIS_URL: 'redis://:secretpw@127.0.0.1:1/0' });
    const line = oneLineFailure(result);
    expect(line).toMatch(/^sutazai serve: Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1\/0 is unreachable: /);
    expect(line).toContain('ECONNREFUSED');
    expect(result.stderr + result.stdout).not.toContain('secretpw');
  });

  it('says the port is taken when another process listens on it', async () => {
    const server = net.createServer();
    blocker = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;

    const line = oneLineFailure(await serve({ PORT: String(port) }));
    expect(line).toMatch(/^sutazai serve: cannot listen: .*EADDRINUSE/);
    expect(line).toContain(`127.0.0.1:${port}`);
  });
});
