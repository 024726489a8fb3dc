// The health probes' settings: each outside service is probed when its URL is set, and `disabled` otherwise.
import type { Env } from './env-schema.js';

export interface HealthConfig {
  probeTimeoutMs: number;
  cacheTtlMs: number;
  rabbitmqUrl: string | undefined;
  neo4j: { url: string; user: string; password: string | undefined } | undefined;
  chromadbUrl: string | undefined;
  qdrantUrl: string | undefined;
  faissUrl: string | undefined;
  consulUrl: string | undefined;
  /** CONSUL_SERVICE_ADDRESS: the address registered with Consul. */
  consulServiceAddress: string | undefined;
  /** CONSUL_TOKEN: Consul's ACL token, for the probe and the registration. */
  consulToken: string | undefined;
  kongAdminUrl: string | undefined;
}

const NEO4J_SCHEMES = ['bolt:', 'bolt+s:', 'bolt+ssc:', 'neo4j:', 'neo4j+s:', 'neo4j+ssc:'];

function protocolOf(url: string): string | undefined {
  try {
    return new URL(url).protocol;
  } catch {
    return undefined;
  }
}

/** The URL of a setting when it is set to one of `protocols`; a problem (naming what it must be) otherwise. */
function urlSetting(
  name: string,
  value: string | undefined,
  protocols: string[],
  expected: string,
  problems: string[],
): string | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const protocol = protocolOf(value);
  // The value itself is not echoed: these URLs may carry a password.
  if (protocol === undefined || !protocols.includes(protocol)) problems.push(`${name}: must be ${expected}`);
  return value;
}

export function healthConfig(env: Env, problems: string[]): HealthConfig {
  const http = ['http:', 'https:'];
  const httpUrl = (name: keyof Env) =>
    urlSetting(name, env[name] as string | undefined, http, 'an http:// or https:// URL', problems);
  const neo4jUrl = urlSetting(
    'NEO4J_URL',
    env.NEO4J_URL,
    NEO4J_SCHEMES,
    'a bolt://, neo4j:// (or +s, +ssc) URL',
    problems,
  );
  return {
    probeTimeoutMs: env.HEALTH_PROBE_TIMEOUT_MS,
    cacheTtlMs: env.HEALTH_CACHE_TTL_MS,
    rabbitmqUrl: urlSetting(
      'RABBITMQ_URL',
      env.RABBITMQ_URL,
      ['amqp:', 'amqps:'],
      'an amqp:// or amqps:// URL',
      problems,
    ),
    neo4j:
      neo4jUrl === undefined
        ? undefined
        : { url: neo4jUrl, user: env.NEO4J_USER, password: env.NEO4J_PASSWORD },
    chromadbUrl: httpUrl('CHROMADB_URL'),
    qdrantUrl: httpUrl('QDRANT_URL'),
    faissUrl: httpUrl('FAISS_URL'),
    consulUrl: httpUrl('CONSUL_URL'),
    consulServiceAddress: env.CONSUL_SERVICE_ADDRESS?.trim() || undefined,
    consulToken: env.CONSUL_TOKEN?.trim() || undefined,
    kongAdminUrl: httpUrl('KONG_ADMIN_URL'),
  };
}
