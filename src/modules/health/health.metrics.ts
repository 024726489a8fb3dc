// The probe rounds in Prometheus. A scrape asks for the current round (the cached one while it is fresh), as the
// original's /metrics ran its health check, so the figures never go stale while nobody calls a health route.
// Disabled services are absent rather than 0.
import { Gauge, type Registry } from 'prom-client';
import type { HealthRound } from './health-rounds.js';
import { SERVICE_NAMES } from './service-probe.js';

export interface HealthMetrics {
  /** For HealthRounds' onRound. */
  record(round: HealthRound): void;
  /** What a scrape waits for before the figures are read. */
  refreshWith(current: () => Promise<unknown>): void;
}

export function createHealthMetrics(registry: Registry): HealthMetrics {
  let refresh: (() => Promise<unknown>) | undefined;
  const status = new Gauge({
    name: 'backend_service_status',
    help: '1 when the service answered its last health probe well, 0 when not (disabled services are absent).',
    labelNames: ['service'],
    registers: [registry],
    // Over cluster workers: 0 as soon as one of them finds the service down.
    aggregator: 'min',
    async collect() {
      await refresh?.();
    },
  });
  const seconds = new Gauge({
    name: 'backend_service_probe_seconds',
    help: 'Time the last health probe of the service took (up to HEALTH_PROBE_TIMEOUT_MS).',
    labelNames: ['service'],
    registers: [registry],
    aggregator: 'max',
  });
  return {
    record(round) {
      for (const service of SERVICE_NAMES) {
        const health = round.services[service];
        if (health.status === 'disabled' || health.latencyMs === null) continue;
        status.set({ service }, health.status === 'healthy' ? 1 : 0);
        seconds.set({ service }, health.latencyMs / 1000);
      }
    },
    refreshWith(current) {
      refresh = current;
    },
  };
}
