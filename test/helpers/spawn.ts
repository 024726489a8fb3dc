// Spawning real processes for the end-to-end tests: the built CLI (`node dist/cli/sutazai.js …`, exactly what
// `npm start` runs) or a TypeScript fixture through tsx. Each process gets exactly the environment the test passes
// (nothing inherited from the test runner), its stdout is parsed as pino JSON lines, every wait is bounded, and
// killSpawned() (call it in afterEach) SIGKILLs whatever is still running, cluster workers included.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach } from 'vitest';
import type { Dialect } from '../../src/config.js';
import { freshDatabase, type FreshDatabase } from './databases.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BUILT_CLI = path.join(REPO_ROOT, 'dist', 'cli', 'sutazai.js');
export const SLOW_SERVER_FIXTURE = path.join(REPO_ROOT, 'test', 'fixtures', 'slow-server.ts');

export type LogLine = Record<string, unknown>;
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const running = new Set<Spawned>();

export class Spawned {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  /** stdout lines that parsed as JSON objects (pino log lines), in order. */
  readonly logs: LogLine[] = [];
  readonly exited: Promise<Exit>;
  exit: Exit | undefined;
  private partial = '';
  private readonly listeners = new Set<() => void>();

  constructor(args: string[], env: Record<string, string>, cwd: string) {
    // detached: the process leads its own process group, so that cleanup can kill its cluster workers with it.
    this.child = spawn(process.execPath, args, {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => this.onStdout(chunk));
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    // 'close', not 'exit': by then stdout and stderr have been read to the end.
    this.exited = new Promise((resolve) => {
      this.child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
        this.exit = { code, signal };
        running.delete(this);
        this.notify();
        resolve(this.exit);
      });
    });
    running.add(this);
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error('the process did not start');
    return this.child.pid;
  }

  /** Sends a signal to this process only (not to its workers). */
  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Sends a signal to the whole process group, as Ctrl-C in a terminal does (the process and its workers). */
  signalGroup(signal: NodeJS.Signals): void {
    process.kill(-this.pid, signal);
  }

  /** Resolves with the first log line (already seen or still to come) that matches; rejects on timeout or exit. */
  waitForLog(what: string, match: (line: LogLine) => boolean, timeoutMs = 30_000): Promise<LogLine> {
    return this.waitFor(what, () => this.logs.find(match), timeoutMs);
  }

  /** Resolves with the exit code and signal; rejects when the process is still running after timeoutMs. */
  async waitForExit(timeoutMs = 30_000): Promise<Exit> {
    return this.waitFor('the process to exit', () => this.exit, timeoutMs, false);
  }

  /** Polls `probe` on every output line and on exit; rejects (with the output so far) on timeout or exit. */
  waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 30_000, failOnExit = true): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = () => {
        const found = probe();
        if (found !== undefined) return finish(() => resolve(found));
        const exit = this.exit;
        if (failOnExit && exit)
          return finish(() => reject(this.failure(`exited (${describeExit(exit)}) before ${what}`)));
      };
      const timer = setTimeout(
        () => finish(() => reject(this.failure(`timed out after ${timeoutMs} ms waiting for ${what}`))),
        timeoutMs,
      );
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        settle();
      };
      this.listeners.add(check);
      check();
    });
  }

  /** SIGKILLs the process group (the process and any cluster workers) and waits for the process to be gone. */
  async kill(): Promise<void> {
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
    await this.waitForExit(10_000);
  }

  private onStdout(chunk: string): void {
    this.stdout += chunk;
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      try {
        const parsed: unknown = JSON.parse(line);
        if (parsed !== null && typeof parsed === 'object') this.logs.push(parsed as LogLine);
      } catch {
        // Not a log line; it stays in `stdout`.
      }
    }
    this.notify();
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  private failure(message: string): Error {
    const tail = (text: string) => text.slice(-2000) || '(empty)';
    return new Error(`${message}\n--- stdout:\n${tail(this.stdout)}\n--- stderr:\n${tail(this.stderr)}`);
  }
}

export function describeExit(exit: Exit): string {
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}

/** Starts `node <args>` in `cwd` (the repository by default) with exactly `env`. */
export function spawnNode(args: string[], env: Record<string, string>, cwd = REPO_ROOT): Spawned {
  return new Spawned(args, env, cwd);
}

/** Starts the built CLI: `node dist/cli/sutazai.js <args>`. */
export function spawnCli(args: string[], env: Record<string, string>, cwd = REPO_ROOT): Spawned {
  return spawnNode([BUILT_CLI, ...args], env, cwd);
}

/** Starts the slow-server fixture (the real startServer() plus a /slow route) through tsx. */
export function spawnSlowServer(env: Record<string, string>): Spawned {
  return spawnNode(['--import', 'tsx', SLOW_SERVER_FIXTURE], env);
}

/** Runs the built CLI to completion (bounded) and returns its exit and output. */
export async function runCli(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<Exit & { stdout: string; stderr: string }> {
  const proc = spawnCli(args, env);
  const exit = await proc.waitForExit(timeoutMs);
  return { ...exit, stdout: proc.stdout, stderr: proc.stderr };
}

const LISTENING = /Server listening at http:\/\/[^\s:]+:(\d+)/;

/** Waits for Fastify's "Server listening at http://host:port" line (LOG_LEVEL info or lower) and returns the port. */
export async function listeningPort(proc: Spawned, timeoutMs = 30_000): Promise<number> {
  const line = await proc.waitForLog(
    'the "Server listening" log line',
    (l) => typeof l.msg === 'string' && LISTENING.test(l.msg),
    timeoutMs,
  );
  return Number(LISTENING.exec(String(line.msg))?.[1]);
}

/** SIGKILLs every spawned process still running (for afterEach/afterAll, so a failed test leaves nothing behind). */
export async function killSpawned(): Promise<void> {
  await Promise.all([...running].map((proc) => proc.kill()));
}

/** Pids of the live processes whose parent is `pid` (Linux /proc): a cluster primary's workers. */
export function childPids(pid: number): number[] {
  const children: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(ppid) === pid && state !== 'Z') children.push(Number(entry));
  }
  return children.sort((a, b) => a - b);
}

export function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * One GET over a real socket. `agent: false` (the default) opens a new connection, so it cannot ride a kept-alive
 * one; pass a keep-alive Agent to behave like a browser or a pooling client. Bounded by timeoutMs.
 */
export function httpGet(
  port: number,
  urlPath: string,
  options: { agent?: http.Agent | false; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: urlPath, agent: options.agent ?? false, headers: options.headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.setTimeout(options.timeoutMs ?? 30_000, () => req.destroy(new Error(`GET ${urlPath} timed out`)));
    req.on('error', reject);
  });
}

/**
 * A fresh database for each test of the enclosing describe, dropped after it together with every process the test
 * spawned. The returned object is refilled before each test, so it can be captured once.
 */
export function freshDatabaseEachTest(dialect: Dialect): FreshDatabase {
  const current = {} as FreshDatabase;
  beforeEach(async () => {
    Object.assign(current, await freshDatabase(dialect));
  });
  afterEach(async () => {
    await killSpawned();
    await current.drop();
  });
  return current;
}
