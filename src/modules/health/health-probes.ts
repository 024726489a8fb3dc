// The probe of each service the configuration enables: the database and the LLM server always, Redis when
// REDIS_URL is set, the others when their URL is.
import type { Dispatcher } from 'undici';
import type { Config } from '../../config.js';
import type { Database } from '../../platform/db/database.js';
import { singleFlight } from '../../lib/single-flight.js';
import type { RedisHandle } from '../../platform/redis.js';
import { amqpProbe } from './amqp-probe.js';
import { consulHasLeader, httpProbe } from './http-probe.js';
import { neo4jProbe } from './neo4j-probe.js';
import { ProbeFailure, type ServiceName, type ServiceProbe } from './service-probe.js';

/** The probe of each enabled service; the database's is always there. */
export type EnabledProbes = Partial<Record<ServiceName, ServiceProbe>> & { database: ServiceProbe };

export interface ProbeSources {
  config: Pick<Config, 'health' | 'llm'>;
  database: Pick<Database, 'ping'>;
  redis: Pick<RedisHandle, 'status'> | undefined;
  /** The HTTP probes' connections (the plugin closes it). */
  dispatcher: Dispatcher;
  /** The embedded vector index: what the `faiss` probe reports when FAISS_URL is unset. */
  embeddedVectors?: { ping(): Promise<void> };
}

/**
 * A check that callers join while one is running. The database and Redis pings cannot be called off once sent:
 * while a stalled database holds them, a probe given up at its timeout would otherwise leave its ping queued, and
 * readiness polled every second would fill the pool with pings.
 */
function joined(check: () => Promise<void>): ServiceProbe {
  return { check: singleFlight(check) };
}

function redisProbe(redis: Pick<RedisHandle, 'status'>): ServiceProbe {
  return joined(async () => {
    // PING on the server's own connection (RedisHandle.status). Its error text names the host: not shown.
    const status = await redis.status();
    if (!status.ready)
      throw new ProbeFailure(status.state === 'ready' ? 'PING failed' : `not connected (${status.state})`);
  });
}

function llmProbe(llm: Config['llm'], dispatcher: Dispatcher): ServiceProbe {
  if (llm.provider === 'openai') {
    const headers: Record<string, string> = llm.openaiApiKey
      ? { authorization: `Bearer ${llm.openaiApiKey}` }
      : {};
    return httpProbe(dispatcher, llm.openaiBaseUrl, { paths: ['/models'], headers });
  }
  return httpProbe(dispatcher, llm.ollamaUrl, { paths: ['/api/version'] });
}

export function createProbes({
  config,
  database,
  redis,
  dispatcher,
  embeddedVectors,
}: ProbeSources): EnabledProbes {
  const { health } = config;
  const databaseProbe = joined(() => database.ping());
  const http = (url: string | undefined, options: Parameters<typeof httpProbe>[2]) =>
    url === undefined ? undefined : httpProbe(dispatcher, url, options);
  const probes: Partial<Record<ServiceName, ServiceProbe | undefined>> = {
    redis: redis ? redisProbe(redis) : undefined,
    rabbitmq: health.rabbitmqUrl ? amqpProbe(health.rabbitmqUrl, health.probeTimeoutMs) : undefined,
    neo4j: health.neo4j ? neo4jProbe(health.neo4j, health.probeTimeoutMs) : undefined,
    // Chroma 0.6 and later answer /api/v2/heartbeat; older ones only /api/v1/heartbeat.
    chromadb: http(health.chromadbUrl, { paths: ['/api/v2/heartbeat', '/api/v1/heartbeat'] }),
    qdrant: http(health.qdrantUrl, { paths: ['/healthz'] }),
    // `faiss` has meant the embedded index since it replaced the FAISS service; a FAISS_URL still probes one.
    faiss:
      health.faissUrl === undefined && embeddedVectors
        ? joined(() => embeddedVectors.ping())
        : http(health.faissUrl, { paths: ['/health'] }),
    consul: http(health.consulUrl, {
      paths: ['/v1/status/leader'],
      acceptBody: consulHasLeader,
      ...(health.consulToken ? { headers: { 'x-consul-token': health.consulToken } } : {}),
    }),
    kong: http(health.kongAdminUrl, { paths: ['/status'] }),
    ollama: llmProbe(config.llm, dispatcher),
  };
  const enabled = Object.fromEntries(Object.entries(probes).filter(([, probe]) => probe !== undefined));
  return { ...enabled, database: databaseProbe };
}
