// The chat benchmark's LLM stand-in as a child process (bench/llm-stand-in-child.ts): start it, read its URL, and
// stop it for its summary of what it received. Its stdin is a pipe that only this process holds, so the child also
// exits when the benchmark dies without stopping it; killAllStandIns() is the synchronous last resort on exit.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { StandInSummary } from './llm-stand-in-child.js';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const childEntry = path.join(benchDir, 'llm-stand-in-child.ts');
const STOP_GRACE_MS = 10_000;

export interface RunningStandIn {
  /** Ollama base URL (the server's OLLAMA_URL). */
  url: string;
  logFile: string;
  exited(): boolean;
  /** Ends the child and returns what it received. */
  stop(): Promise<StandInSummary>;
}

const live = new Set<ChildProcess>();

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').slice(-4000) || '(no output)';
  } catch {
    return '(no output)';
  }
}

export async function startStandIn(
  tokens: string[],
  logFile: string,
  readyTimeoutMs: number,
): Promise<RunningStandIn> {
  const err = fs.openSync(logFile, 'w');
  const child = spawn(process.execPath, ['--import', 'tsx', childEntry, JSON.stringify(tokens)], {
    env: { PATH: process.env.PATH ?? '' },
    cwd: path.dirname(benchDir),
    stdio: ['pipe', 'pipe', err],
  });
  fs.closeSync(err);
  live.add(child);
  const exitedPromise = new Promise<void>((resolve) =>
    child.once('exit', () => {
      live.delete(child);
      resolve();
    }),
  );
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  if (!child.stdout) throw new Error('the stand-in child has no stdout');
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const nextLine = async (what: string, timeoutMs: number): Promise<Record<string, unknown>> => {
    let timer: NodeJS.Timeout | undefined;
    const line = await Promise.race([
      lines.next(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    if (line.done) throw new Error(`the LLM stand-in exited before its ${what}: ${tail(logFile)}`);
    return JSON.parse(line.value) as Record<string, unknown>;
  };

  let url: string;
  try {
    const hello = await nextLine('URL', readyTimeoutMs);
    if (typeof hello.url !== 'string') throw new Error(`unexpected first line ${JSON.stringify(hello)}`);
    url = hello.url;
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`the LLM stand-in did not start: ${(error as Error).message}`, { cause: error });
  }

  return {
    url,
    logFile,
    exited,
    async stop() {
      child.stdin?.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      try {
        return (await nextLine('summary', STOP_GRACE_MS)) as unknown as StandInSummary;
      } finally {
        await exitedPromise;
        clearTimeout(timer);
      }
    },
  };
}

/** Last resort (process exit, fatal error): SIGKILL every stand-in still running, synchronously. */
export function killAllStandIns(): void {
  for (const child of live) child.kill('SIGKILL');
}
