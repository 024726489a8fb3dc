// The agents' settings (AGENTS_*): where the built-in agents run, how their statuses are probed and kept, and the
// model registry file.
import type { Env } from './env-schema.js';
import { isHttpUrl } from './llm-config.js';

export interface AgentsConfig {
  baseUrl: string;
  probeTimeoutMs: number;
  statusTtlMs: number;
  modelRegistryFile: string | undefined;
}

export function agentsConfig(env: Env, problems: string[]): AgentsConfig {
  if (!isHttpUrl(env.AGENTS_BASE_URL))
    problems.push(`AGENTS_BASE_URL: must be an http(s) URL (got ${JSON.stringify(env.AGENTS_BASE_URL)})`);
  return {
    baseUrl: env.AGENTS_BASE_URL.replace(/\/+$/, ''),
    probeTimeoutMs: env.AGENTS_PROBE_TIMEOUT_MS,
    statusTtlMs: env.AGENTS_STATUS_TTL_MS,
    // A blank value is no file.
    modelRegistryFile: env.AGENTS_MODEL_REGISTRY_FILE?.trim() ? env.AGENTS_MODEL_REGISTRY_FILE : undefined,
  };
}
