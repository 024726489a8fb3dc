// `node dist/cli/sutazai.js serve`, as `npm start` runs it, with nothing but a data folder: the embedded defaults
// (SQLite under DATA_DIR, in-memory everything else) must serve, and the generated development secret must persist.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REPO_ROOT, httpGet, killSpawned, listeningPort, spawnCli, type Spawned } from '../helpers/spawn.js';

const PACKAGE_VERSION = (
  JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

describe('sutazai serve with only DATA_DIR set', () => {
  let workDir: string;
  let dataDir: string;
  beforeEach(() => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sutazai-e2e-serve-'));
    dataDir = path.join(workDir, 'data');
  });
  afterEach(async () => {
    await killSpawned();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  /** The defaults, plus only what a test machine needs: a free port on loopback, info logs for the port line. */
  const start = (): Spawned =>
    spawnCli(['serve'], { DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' }, workDir);

  it('serves / and /health on SQLite in DATA_DIR, and exits 0 on SIGTERM', async () => {
    const server = start();
    const port = await listeningPort(server);

    const health = await httpGet(port, '/health');
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toEqual({ status: 'healthy', app: 'SutazAI Platform API' });

    const root = await httpGet(port, '/');
    expect(root.status).toBe(200);
    expect(JSON.parse(root.body)).toEqual({
      app: 'SutazAI Platform API',
      version: PACKAGE_VERSION,
      status: 'operational',
      docs: '/docs',
      api: '/api/v1',
    });
    expect(root.headers['x-request-id']).toEqual(expect.any(String));

    // The embedded database went where DATA_DIR says, was migrated, and nothing was written in the cwd.
    expect(fs.existsSync(path.join(dataDir, 'sutazai.db'))).toBe(true);
    expect(server.logs).toContainEqual(expect.objectContaining({ msg: 'database migrated' }));
    expect(fs.readdirSync(workDir)).toEqual(['data']);

    server.signal('SIGTERM');
    expect(await server.waitForExit()).toEqual({ code: 0, signal: null });
    expect(server.logs).toContainEqual(expect.objectContaining({ msg: 'shut down cleanly' }));
    expect(server.stderr).toBe('');
  });

  it('generates jwt-secret (mode 0600) once and reuses it after a restart (stopped with SIGINT)', async () => {
    const secretFile = path.join(dataDir, 'jwt-secret');
    const first = start();
    await listeningPort(first);
    const stat = fs.statSync(secretFile);
    expect(stat.mode & 0o777).toBe(0o600);
    const secret = fs.readFileSync(secretFile, 'utf8').trim();
    expect(secret.length).toBeGreaterThanOrEqual(32);
    first.signal('SIGINT');
    expect(await first.waitForExit()).toEqual({ code: 0, signal: null });

    const second = start();
    const port = await listeningPort(second);
    expect((await httpGet(port, '/health')).status).toBe(200);
    expect(fs.readFileSync(secretFile, 'utf8').trim()).toBe(secret);
    expect(fs.statSync(secretFile).mode & 0o777).toBe(0o600);
    // Applied on the first start only: the second found the database up to date.
    expect(second.logs).not.toContainEqual(expect.objectContaining({ msg: 'database migrated' }));
    second.signal('SIGTERM');
    expect(await second.waitForExit()).toEqual({ code: 0, signal: null });
  });

  it('in production with a JWT_SECRET_KEY, writes no development secret', async () => {
    const server = spawnCli(
      ['serve'],
      {
        ENVIRONMENT: 'production',
        JWT_SECRET_KEY: 'a-production-secret-that-is-long-enough-0123456789',
        DATA_DIR: dataDir,
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
      },
      workDir,
    );
    const port = await listeningPort(server);
    expect((await httpGet(port, '/health')).status).toBe(200);
    expect(fs.existsSync(path.join(dataDir, 'jwt-secret'))).toBe(false);
    server.signal('SIGTERM');
    expect(await server.waitForExit()).toEqual({ code: 0, signal: null });
  });
});
