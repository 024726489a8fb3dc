// A redis-server of a test's own, on a free loopback port and without persistence, for tests that kill and restart
// Redis (never the shared one). Restarted, it comes back empty, as a Redis without persistence does in production.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { describe } from 'vitest';
import type { App } from '../../src/app.js';
import { closedPort } from './closed-port.js';
import { REQUIRE_SERVICES, canConnect } from './services.js';

/** Whether a redis-server binary is on the PATH. */
export function redisServerInstalled(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** describe() when a redis-server of the test's own can be started here; else a loud skip (a failure in CI). */
export function describeWithOwnRedis(name: string, suite: () => void): void {
  const installed = redisServerInstalled();
  if (!installed && REQUIRE_SERVICES) throw new Error('redis-server is not installed and REQUIRE_SERVICES=1');
  if (!installed) console.warn(`\n*** redis-server is not installed: "${name}" is SKIPPED. ***\n`);
  (installed ? describe : describe.skip)(name, suite);
}

/** Waits (bounded) until the app's Redis client is, or is no longer, ready. */
export async function redisReady(app: App, ready: boolean): Promise<void> {
  const deadline = Date.now() + 15_000;
  while ((app.redis?.client.status === 'ready') !== ready) {
    if (Date.now() > deadline) throw new Error(`the app's Redis client did not become ready=${ready}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export class OwnRedis {
  private child: ChildProcess | undefined;

  private constructor(readonly port: number) {}

  static async start(): Promise<OwnRedis> {
    const redis = new OwnRedis(await closedPort());
    await redis.restart();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the server (again, empty) on the same port and waits until it accepts connections. */
  async restart(): Promise<void> {
    if (this.child) throw new Error('redis-server is already running');
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    this.child = child;
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
    const deadline = Date.now() + 10_000;
    while (!(await canConnect(this.url, 500))) {
      if (!this.child) throw new Error(`redis-server on port ${this.port} exited at start`);
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not start in 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** SIGKILL, as a crash: no goodbye to clients. Resolves once the process is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
    this.child = undefined;
  }

  /**
   * SIGSTOP: a Redis that hangs. The kernel still accepts connections and takes what clients write; nothing is
   * answered until resume().
   */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }
}
