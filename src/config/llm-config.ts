// The LLM provider's settings (LLM_*, OLLAMA_*, OPENAI_*, DEFAULT_MODEL, EMBEDDING_MODEL).
import type { Env } from './env-schema.js';

export interface LlmConfig {
  provider: Env['LLM_PROVIDER'];
  ollamaUrl: string;
  openaiBaseUrl: string;
  openaiApiKey: string | undefined;
  defaultModel: string;
  /** For embeddings when a request names no model: EMBEDDING_MODEL, else DEFAULT_MODEL. */
  embeddingModel: string;
  keepAlive: string | undefined;
  numCtx: number;
  timeouts: { connectMs: number; firstTokenMs: number; idleMs: number; totalMs: number };
  breaker: { threshold: number; openMs: number };
  retry: { attempts: number; baseMs: number };
  maxConcurrent: number;
  queueSize: number;
  maxConcurrentPerUser: number;
  maxTokens: number;
}

/** Whether `url` parses as an http(s) URL. */
export function isHttpUrl(url: string): boolean {
  try {
    const { protocol } = new URL(url);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}

function ollamaUrl(env: Env, problems: string[]): string {
  let url = env.OLLAMA_URL?.trim();
  const source = url ? 'OLLAMA_URL' : env.OLLAMA_HOST ? 'OLLAMA_HOST' : 'OLLAMA_URL';
  if (!url && env.OLLAMA_HOST) {
    const host = env.OLLAMA_HOST.trim();
    url = /^https?:\/\//i.test(host) ? host : `http://${host}:${env.OLLAMA_PORT}`;
  }
  url ??= 'http://127.0.0.1:11434';
  if (!isHttpUrl(url)) problems.push(`${source}: must make an http(s) URL (got ${JSON.stringify(url)})`);
  return url.replace(/\/+$/, '');
}

export function llmConfig(env: Env, problems: string[]): LlmConfig {
  const openaiBaseUrl = env.OPENAI_BASE_URL.trim().replace(/\/+$/, '');
  if (!isHttpUrl(openaiBaseUrl))
    problems.push(`OPENAI_BASE_URL: must be an http(s) URL (got ${JSON.stringify(env.OPENAI_BASE_URL)})`);
  if (!env.DEFAULT_MODEL.trim()) problems.push('DEFAULT_MODEL: must not be empty');
  return {
    provider: env.LLM_PROVIDER,
    ollamaUrl: ollamaUrl(env, problems),
    openaiBaseUrl,
    openaiApiKey: env.OPENAI_API_KEY,
    defaultModel: env.DEFAULT_MODEL.trim(),
    embeddingModel: env.EMBEDDING_MODEL?.trim() || env.DEFAULT_MODEL.trim(),
    keepAlive: env.OLLAMA_KEEP_ALIVE,
    numCtx: env.OLLAMA_NUM_CTX,
    timeouts: {
      connectMs: env.LLM_CONNECT_TIMEOUT_MS,
      firstTokenMs: env.LLM_FIRST_TOKEN_TIMEOUT_MS,
      idleMs: env.LLM_IDLE_TIMEOUT_MS,
      totalMs: env.LLM_TOTAL_TIMEOUT_MS,
    },
    breaker: { threshold: env.LLM_BREAKER_THRESHOLD, openMs: env.LLM_BREAKER_OPEN_MS },
    retry: { attempts: env.LLM_RETRY_ATTEMPTS, baseMs: env.LLM_RETRY_BASE_MS },
    maxConcurrent: env.LLM_MAX_CONCURRENT,
    queueSize: env.LLM_QUEUE_SIZE,
    maxConcurrentPerUser: env.LLM_MAX_CONCURRENT_PER_USER,
    maxTokens: env.LLM_MAX_TOKENS,
  };
}
