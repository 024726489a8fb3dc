// Servers under test as child processes: spawn one on a free 127.0.0.1 port, wait until GET /health answers, and
// stop it (and, for a cluster, its workers) however the benchmark ends.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { HEALTH_PATH } from './health-response.js';

export interface ServerSpec {
  /** Row label in the results table. */
  name: string;
  command: string;
  args: string[];
  cwd: string;
  /** Added to a minimal environment; PORT is filled in. */
  env: Record<string, string>;
  /** Where the child's stdout and stderr go: a file, so that log lines cost the server, not the load generator. */
  logFile: string;
}

export interface RunningServer {
  name: string;
  url: string;
  /** The spawned process (with WORKERS=1, the one serving): its /proc entries give its memory and CPU time. */
  pid: number;
  logFile: string;
  /** Set once the child has exited (expectedly or not). */
  exited(): boolean;
  stop(): Promise<void>;
}

const STOP_GRACE_MS = 10_000;

// Every child still running, so that SIGINT, an error or process exit can reap them all.
const live = new Set<ChildProcess>();

/** Asks the OS for a free port by binding port 0, then releases it for the child to take. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not read the probe port'));
      });
    });
  });
}

function getHealth(url: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${url}${HEALTH_PATH}`, { timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('timeout', () => req.destroy(new Error('timed out')));
    req.once('error', reject);
  });
}

function tail(file: string, bytes = 4000): string {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.length > bytes ? `…${text.slice(-bytes)}` : text;
  } catch {
    return '(no output)';
  }
}

/** Signals the child's whole process group: a cluster primary's workers must go with it. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

export async function startServer(spec: ServerSpec, readyTimeoutMs: number): Promise<RunningServer> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const out = fs.openSync(spec.logFile, 'w');
  const child = spawn(spec.command, spec.args, {
    env: { PATH: process.env.PATH ?? '', ...spec.env, PORT: String(port) },
    cwd: spec.cwd,
    stdio: ['ignore', out, out],
    // Its own process group, so that stop() reaches cluster workers too.
    detached: true,
  });
  fs.closeSync(out);
  // Undefined only when the spawn itself failed, and then no server is ever ready.
  const pid = child.pid ?? -1;
  live.add(child);
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', () => {
      live.delete(child);
      resolve();
    });
  });
  const exited = () => child.exitCode !== null || child.signalCode !== null;

  const stop = async () => {
    signalGroup(child, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), STOP_GRACE_MS);
    await exitedPromise;
    clearTimeout(timer);
  };

  const deadline = Date.now() + readyTimeoutMs;
  let lastProblem = 'no answer yet';
  while (Date.now() < deadline) {
    if (exited()) {
      throw new Error(
        `${spec.name} exited (code ${child.exitCode}, signal ${child.signalCode}) before it was ready. ` +
          `Its output:\n${tail(spec.logFile)}`,
      );
    }
    try {
      const status = await getHealth(url, 1_000);
      if (status === 200) return { name: spec.name, url, pid, logFile: spec.logFile, exited, stop };
      lastProblem = `GET ${HEALTH_PATH} answered ${status}`;
    } catch (error) {
      lastProblem = (error as Error).message;
    }
    await sleep(200);
  }
  await stop();
  throw new Error(
    `${spec.name} was not ready within ${readyTimeoutMs} ms (${lastProblem}). Its output:\n${tail(spec.logFile)}`,
  );
}

/** Last resort (process exit, fatal error): SIGKILL every child group still running, synchronously. */
export function killAllServers(): void {
  for (const child of live) signalGroup(child, 'SIGKILL');
}
