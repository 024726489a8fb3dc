// The health reports, in the original's shapes (reference §5.1) with what it lacked: a details entry per service
// (status, latency, reason), only enabled services counted, a metrics report that works, and readiness.
import type { Clock } from '../../lib/clock.js';
import type { Database } from '../../platform/db/database.js';
import type { RateLimits } from '../../platform/rate-limit/rate-limits.js';
import type { RedisHandle } from '../../platform/redis.js';
import type { LlmService } from '../llm/index.js';
import { probeWithin, type HealthRound, type HealthRounds, type ServiceHealth } from './health-rounds.js';
import { SERVICE_NAMES, type ServiceName, type ServiceProbe } from './service-probe.js';

export interface HealthServiceDeps {
  rounds: HealthRounds;
  app: { name: string; version: string; environment: string };
  database: Pick<Database, 'poolStats' | 'dialect'>;
  redis: Pick<RedisHandle, 'stats'> | undefined;
  llm: Pick<LlmService, 'breakerState' | 'load' | 'providerName'>;
  rateLimits: Pick<RateLimits, 'stats'>;
  /** What readiness checks: the database, and Redis when it is configured. */
  readinessProbes: { database: ServiceProbe; redis?: ServiceProbe };
  probeTimeoutMs: number;
  clock: Clock;
  startedAt: Date;
}

export interface ServiceDetail {
  status: ServiceHealth['status'];
  latency_ms: number | null;
  reason?: string;
}

const detail = ({ status, latencyMs, reason }: ServiceHealth): ServiceDetail => ({
  status,
  latency_ms: latencyMs,
  ...(reason === undefined ? {} : { reason }),
});

const round2 = (value: number) => Math.round(value * 100) / 100;

/** Counts of the enabled services only: a disabled one is neither healthy nor unhealthy. */
function tally(round: HealthRound) {
  const enabled = SERVICE_NAMES.filter((name) => round.services[name].status !== 'disabled');
  const healthy = enabled.filter((name) => round.services[name].status === 'healthy').length;
  return {
    total: enabled.length,
    healthy,
    unhealthy: enabled.length - healthy,
    status: healthy === enabled.length ? ('healthy' as const) : ('degraded' as const),
  };
}

function mapServices<T>(round: HealthRound, of: (health: ServiceHealth) => T): Record<ServiceName, T> {
  return Object.fromEntries(SERVICE_NAMES.map((name) => [name, of(round.services[name])])) as Record<
    ServiceName,
    T
  >;
}

/** The original's service map (booleans) and counts, with the details beside them. */
function serviceMap(round: HealthRound) {
  const counts = tally(round);
  return {
    services: mapServices(round, (health) => health.status === 'healthy'),
    healthy_count: counts.healthy,
    total_services: counts.total,
    details: mapServices(round, detail),
    checked_at: round.checkedAt.toISOString(),
  };
}

export class HealthService {
  readonly #deps: HealthServiceDeps;

  constructor(deps: HealthServiceDeps) {
    this.#deps = deps;
  }

  #uptimeSeconds(): number {
    return Math.max(
      0,
      Math.floor((this.#deps.clock.now().getTime() - this.#deps.startedAt.getTime()) / 1000),
    );
  }

  /** GET /api/v1/health/ */
  async overview() {
    const round = await this.#deps.rounds.current();
    const pool = this.#deps.database.poolStats();
    return {
      version: this.#deps.app.version,
      status: tally(round).status,
      uptime_seconds: this.#uptimeSeconds(),
      // The original's SQLAlchemy names: checked out = in use, checked in = idle, overflow = clients waiting.
      database_pool: {
        size: pool.size,
        checked_in: pool.idle,
        checked_out: pool.inUse,
        overflow: pool.waiting,
        total_connections: pool.total,
        available: pool.idle,
      },
      ...serviceMap(round),
    };
  }

  /** GET /health/detailed */
  async detailed() {
    const round = await this.#deps.rounds.current();
    return {
      status: tally(round).status,
      app: this.#deps.app.name,
      version: this.#deps.app.version,
      ...serviceMap(round),
    };
  }

  /** GET /api/v1/health/services */
  async services() {
    const round = await this.#deps.rounds.current();
    const counts = tally(round);
    return {
      total_services: counts.total,
      healthy_count: counts.healthy,
      unhealthy_count: counts.unhealthy,
      status: counts.status,
      services: SERVICE_NAMES.map((name) => ({
        name,
        healthy: round.services[name].status === 'healthy',
        ...detail(round.services[name]),
      })),
      checked_at: round.checkedAt.toISOString(),
    };
  }

  /** GET /api/v1/health/services/{name} */
  async service(name: ServiceName) {
    const round = await this.#deps.rounds.current();
    const health = round.services[name];
    return {
      service: name,
      healthy: health.status === 'healthy',
      ...detail(health),
      checked_at: round.checkedAt.toISOString(),
    };
  }

  /** GET /api/v1/health/metrics */
  async metrics() {
    const round = await this.#deps.rounds.current();
    const counts = tally(round);
    const pool = this.#deps.database.poolStats();
    const redis = this.#deps.redis?.stats();
    const llm = this.#deps.llm.load();
    return {
      timestamp: this.#deps.clock.now().getTime() / 1000,
      uptime_seconds: this.#uptimeSeconds(),
      database: {
        dialect: this.#deps.database.dialect,
        pool_size: pool.size,
        active_connections: pool.inUse,
        available_connections: pool.idle,
        overflow_connections: pool.waiting,
        open_connections: pool.total,
        total_capacity: pool.size,
        utilization_percent: round2((pool.inUse / pool.size) * 100),
      },
      redis: redis
        ? {
            status: redis.state,
            connected: redis.connected,
            commands_pending: redis.commandsPending,
            reconnects: redis.reconnects,
            last_ping_ms: round.services.redis.latencyMs,
          }
        : { status: 'disabled' },
      services: {
        total: counts.total,
        healthy: counts.healthy,
        unhealthy: counts.unhealthy,
        health_percentage: counts.total === 0 ? 100 : round2((counts.healthy / counts.total) * 100),
        details: mapServices(round, detail),
        checked_at: round.checkedAt.toISOString(),
      },
      application: {
        version: this.#deps.app.version,
        environment: this.#deps.app.environment,
        api_version: 'v1',
      },
      circuit_breakers: { [this.#deps.llm.providerName]: { state: this.#deps.llm.breakerState() } },
      llm: {
        in_flight: llm.inFlight,
        queued: llm.queued,
        max_concurrent: llm.maxConcurrent,
        queue_size: llm.queueSize,
      },
      rate_limiting: this.#deps.rateLimits.stats(),
    };
  }

  /**
   * GET /health/ready: the database (and Redis when configured) answer now. Their probes are joined while one runs
   * (health-probes.ts), so concurrent calls share one ping.
   */
  async readiness(): Promise<Readiness> {
    const { database, redis } = this.#deps.readinessProbes;
    const timeout = this.#deps.probeTimeoutMs;
    const [db, cache] = await Promise.all([
      probeWithin(database, timeout),
      redis ? probeWithin(redis, timeout) : undefined,
    ]);
    const checks: Readiness['checks'] = { database: detail(db), ...(cache ? { redis: detail(cache) } : {}) };
    const ready = db.status === 'healthy' && (cache === undefined || cache.status === 'healthy');
    return { status: ready ? 'ready' : 'not_ready', checks };
  }
}

export interface Readiness {
  status: 'ready' | 'not_ready';
  checks: { database: ServiceDetail; redis?: ServiceDetail };
}
