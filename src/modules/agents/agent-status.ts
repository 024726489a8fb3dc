// The real status of each agent: an external agent service is `active` when its /health answers 2xx within
// AGENTS_PROBE_TIMEOUT_MS (`unreachable` otherwise); an LLM-backed assistant is `active` when the provider lists its
// model (`model_unavailable` otherwise, or when the provider cannot be asked). Each endpoint's answer and the model
// list are reused for AGENTS_STATUS_TTL_MS, and callers that ask while one is being found out share that one call
// (as the health probes do), so a burst of agent lists costs one probe per endpoint.
import type { Clock } from '../../lib/clock.js';
import { singleFlight } from '../../lib/single-flight.js';

export type AgentStatus = 'active' | 'unreachable' | 'model_unavailable';

export interface StatusSubject {
  /** The URL whose /health is probed (an external agent). */
  endpoint: string | null;
  /** The model it answers with (an LLM-backed assistant): its availability decides. */
  model: string | null;
}

export interface AgentStatusDeps {
  /** Resolves when `endpoint`'s /health answers 2xx in time; rejects otherwise. */
  probe(endpoint: string): Promise<void>;
  /** The provider's model names, normalised; rejects when the provider cannot be asked. */
  models(): Promise<string[]>;
  normaliseModel(model: string): string;
  ttlMs: number;
  clock: Clock;
}

interface Cached<T> {
  value: T;
  at: number;
}

export class AgentStatuses {
  readonly #endpoints = new Map<string, { cached?: Cached<boolean>; flight: () => Promise<boolean> }>();
  #models: Cached<Set<string> | null> | undefined;
  readonly #modelsFlight: () => Promise<Set<string> | null>;

  constructor(private readonly deps: AgentStatusDeps) {
    this.#modelsFlight = singleFlight(async () => {
      const value = await deps.models().then(
        (names) => new Set(names.map((name) => deps.normaliseModel(name))),
        () => null,
      );
      this.#models = { value, at: this.#now() };
      return value;
    });
  }

  async of(subject: StatusSubject): Promise<AgentStatus> {
    if (subject.model !== null) {
      const models = await this.availableModels();
      return models?.has(this.deps.normaliseModel(subject.model)) ? 'active' : 'model_unavailable';
    }
    if (subject.endpoint !== null)
      return (await this.#reachable(subject.endpoint)) ? 'active' : 'unreachable';
    return 'unreachable';
  }

  #now(): number {
    return this.deps.clock.now().getTime();
  }

  #fresh<T>(cached: Cached<T> | undefined): cached is Cached<T> {
    return cached !== undefined && this.#now() - cached.at < this.deps.ttlMs;
  }

  /** The provider's models, normalised (cached as for the statuses); null when the provider cannot be asked. */
  availableModels(): Promise<Set<string> | null> {
    return this.#fresh(this.#models) ? Promise.resolve(this.#models.value) : this.#modelsFlight();
  }

  #reachable(endpoint: string): Promise<boolean> {
    let entry = this.#endpoints.get(endpoint);
    if (!entry) {
      const created: { cached?: Cached<boolean>; flight: () => Promise<boolean> } = {
        flight: singleFlight(async () => {
          const value = await this.deps.probe(endpoint).then(
            () => true,
            () => false,
          );
          created.cached = { value, at: this.#now() };
          return value;
        }),
      };
      entry = created;
      this.#endpoints.set(endpoint, entry);
    }
    return this.#fresh(entry.cached) ? Promise.resolve(entry.cached.value) : entry.flight();
  }
}
