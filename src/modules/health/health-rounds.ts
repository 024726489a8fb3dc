// Probe rounds: every enabled service probed at once, each within HEALTH_PROBE_TIMEOUT_MS, and a round reused for
// HEALTH_CACHE_TTL_MS. Single flight: requests that arrive while a round runs wait for that round instead of
// starting their own, so a thousand concurrent health requests cause one round, and none of them waits longer than
// the slowest probe's timeout.
import type { Clock } from '../../lib/clock.js';
import { singleFlight } from '../../lib/single-flight.js';
import { probeReason } from './probe-reason.js';
import { SERVICE_NAMES, type ServiceName, type ServiceProbe } from './service-probe.js';

export type ServiceStatus = 'healthy' | 'unhealthy' | 'disabled';

export interface ServiceHealth {
  status: ServiceStatus;
  /** Time to the probe's answer (or to its timeout), in ms; null when disabled. */
  latencyMs: number | null;
  /** Why it is unhealthy: a few words, no URL or secret. */
  reason?: string;
}

export interface HealthRound {
  /** When the round started. */
  checkedAt: Date;
  services: Record<ServiceName, ServiceHealth>;
}

export interface HealthRoundsOptions {
  /** The probe of each enabled service; a service without one is disabled. */
  probes: Partial<Record<ServiceName, ServiceProbe>>;
  timeoutMs: number;
  cacheTtlMs: number;
  clock: Clock;
  /** Told of every finished round (metrics). */
  onRound?: (round: HealthRound) => void;
}

const DISABLED: ServiceHealth = { status: 'disabled', latencyMs: null };

export class HealthRounds {
  readonly #options: HealthRoundsOptions;
  #last: HealthRound | undefined;
  readonly #round = singleFlight(() => this.#run());

  constructor(options: HealthRoundsOptions) {
    this.#options = options;
  }

  isEnabled(name: ServiceName): boolean {
    return this.#options.probes[name] !== undefined;
  }

  /** The current round: the cached one while it is fresh, else the running one, else a new one. */
  current(): Promise<HealthRound> {
    const last = this.#last;
    if (last && this.#options.clock.now().getTime() - last.checkedAt.getTime() < this.#options.cacheTtlMs) {
      return Promise.resolve(last);
    }
    return this.#round();
  }

  async close(): Promise<void> {
    await Promise.all(
      Object.values(this.#options.probes).map((probe) => probe.close?.() ?? Promise.resolve()),
    );
  }

  async #run(): Promise<HealthRound> {
    const checkedAt = this.#options.clock.now();
    const results = await Promise.all(
      SERVICE_NAMES.map(async (name) => {
        const probe = this.#options.probes[name];
        return [name, probe ? await probeWithin(probe, this.#options.timeoutMs) : DISABLED] as const;
      }),
    );
    const round = { checkedAt, services: Object.fromEntries(results) as Record<ServiceName, ServiceHealth> };
    this.#last = round;
    this.#options.onRound?.(round);
    return round;
  }
}

/** One probe, never longer than `timeoutMs`: a probe that ignores its abort signal is left to finish alone. */
export async function probeWithin(probe: ServiceProbe, timeoutMs: number): Promise<ServiceHealth> {
  const controller = new AbortController();
  const started = performance.now();
  const latency = () => Math.round((performance.now() - started) * 100) / 100;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve('timeout');
    }, timeoutMs);
  });
  const checked = probe.check(controller.signal).then(
    () => 'ok' as const,
    (error: unknown) => error,
  );
  try {
    const outcome = await Promise.race([checked, timedOut]);
    if (outcome === 'ok') return { status: 'healthy', latencyMs: latency() };
    if (outcome === 'timeout')
      return { status: 'unhealthy', latencyMs: latency(), reason: `timeout after ${timeoutMs} ms` };
    return { status: 'unhealthy', latencyMs: latency(), reason: probeReason(outcome) };
  } finally {
    clearTimeout(timer);
  }
}
