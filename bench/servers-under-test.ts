// The rows of the benchmark: how to spawn the bare baseline and each configuration of our built server.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerSpec } from './server-process.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const builtCli = path.join(repoRoot, 'dist', 'cli', 'sutazai.js');

export const BARE_NAME = 'bare node:http';

export function bareServerSpec(workDir: string): ServerSpec {
  return {
    name: BARE_NAME,
    command: process.execPath,
    args: ['--import', 'tsx', path.join(repoRoot, 'bench', 'bare-server.ts')],
    cwd: repoRoot,
    env: {},
    logFile: path.join(workDir, 'bare.log'),
  };
}

export const FASTIFY_REFERENCE_NAME = 'reference: Fastify, no plugins';

export function fastifyReferenceSpec(workDir: string): ServerSpec {
  return {
    name: FASTIFY_REFERENCE_NAME,
    command: process.execPath,
    args: ['--import', 'tsx', path.join(repoRoot, 'bench', 'fastify-server.ts')],
    cwd: repoRoot,
    env: {},
    logFile: path.join(workDir, 'fastify.log'),
  };
}

export interface OurServerOptions {
  logLevel: 'warn' | 'info';
  workers?: number;
  redisUrl?: string;
  /** Names its data folder and log file (default: from the log level and workers). */
  slug?: string;
}

/** Our server as deployed: the built CLI (not tsx), its own data folder, development defaults otherwise. */
export function ourServerSpec(workDir: string, options: OurServerOptions): ServerSpec {
  if (!fs.existsSync(builtCli)) {
    throw new Error(`${builtCli} is missing: run \`npm run build\` (npm run bench does it first)`);
  }
  const workers = options.workers ?? 1;
  const slug = options.slug ?? `ours-${options.logLevel}-w${workers}`;
  const dataDir = path.join(workDir, slug);
  fs.mkdirSync(dataDir, { recursive: true });
  const env: Record<string, string> = {
    HOST: '127.0.0.1',
    LOG_LEVEL: options.logLevel,
    DATA_DIR: dataDir,
    ENVIRONMENT: 'development',
    WORKERS: String(workers),
  };
  if (options.redisUrl) {
    env.REDIS_URL = options.redisUrl;
    // Keys of a benchmark run must not mix with those of a real instance sharing the Redis.
    env.REDIS_KEY_PREFIX = 'sutazai-bench:';
  }
  const name =
    workers > 1
      ? `ours, WORKERS=${workers}, LOG_LEVEL=${options.logLevel}`
      : `ours, LOG_LEVEL=${options.logLevel}`;
  return {
    name,
    command: process.execPath,
    args: [builtCli, 'serve'],
    cwd: repoRoot,
    env,
    logFile: path.join(workDir, `${slug}.log`),
  };
}

export const MINIMAL_PROXY_NAME = 'reference: minimal Node proxy (bench/minimal-proxy.ts)';

/** The chat section's floor: the least any Node.js proxy does between the client and the LLM stand-in. */
export function minimalProxySpec(workDir: string, llmUrl: string): ServerSpec {
  return {
    name: MINIMAL_PROXY_NAME,
    command: process.execPath,
    args: ['--import', 'tsx', path.join(repoRoot, 'bench', 'minimal-proxy.ts')],
    cwd: repoRoot,
    env: { LLM_URL: llmUrl },
    logFile: path.join(workDir, 'minimal-proxy.log'),
  };
}

export interface LoginServerOptions {
  bcryptRounds: number;
  threadPoolSize: number;
}

export const LOGIN_SERVER_NAME = 'ours, POST /api/v1/auth/login';

/**
 * Our server for the login section: WORKERS=1, LOG_LEVEL=warn, in a data folder of its own (a fresh SQLite file),
 * with the bcrypt cost and libuv thread-pool size the ceiling is measured with.
 */
export function loginServerSpec(workDir: string, options: LoginServerOptions): ServerSpec {
  const spec = ourServerSpec(workDir, { logLevel: 'warn', slug: 'login' });
  return {
    ...spec,
    name: LOGIN_SERVER_NAME,
    env: {
      ...spec.env,
      BCRYPT_ROUNDS: String(options.bcryptRounds),
      UV_THREADPOOL_SIZE: String(options.threadPoolSize),
    },
  };
}

export const resultsFile = path.join(repoRoot, 'docs', 'benchmarks.md');

export const CHAT_SERVER_NAME = 'ours, POST /api/v1/chat/ (SSE)';

/**
 * Our server for the chat section: WORKERS=1, LOG_LEVEL=warn, a fresh SQLite file, Ollama at the stand-in, anonymous
 * chat (the default) and generation limits far above the benchmark's concurrency, so that no chat is queued or
 * refused: anonymous clients share one limit per address, and the bench sends every chat from 127.0.0.1.
 */
export function chatServerSpec(workDir: string, ollamaUrl: string): ServerSpec {
  const spec = ourServerSpec(workDir, { logLevel: 'warn', slug: 'chat' });
  return {
    ...spec,
    name: CHAT_SERVER_NAME,
    env: {
      ...spec.env,
      OLLAMA_URL: ollamaUrl,
      LLM_PROVIDER: 'ollama',
      ALLOW_ANONYMOUS_CHAT: 'true',
      LLM_MAX_CONCURRENT: '1000',
      LLM_MAX_CONCURRENT_PER_USER: '1000',
      LLM_QUEUE_SIZE: '1000',
      // The general rate limit counts every chat of the bench under one address (100 a minute by default).
      RATE_LIMIT_PER_MINUTE: '0',
    },
  };
}
