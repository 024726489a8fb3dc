// circuit_breaker_* and llm_* Prometheus metrics on the app's registry, fed by LlmService through narrow functions.
// No label ever carries a model name: clients choose those freely, and every new value would be a new time series.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { TokenUsage } from './llm.port.js';

export type BreakerState = 'closed' | 'open' | 'half_open';
export type GenerationOutcome = 'success' | 'error' | 'aborted';

export interface LlmMetrics {
  /** Sets the state gauge without counting a transition (the initial state of a new breaker). */
  breakerState(breaker: string, state: BreakerState): void;
  /** Sets the state gauge and counts the transition. */
  breakerTransition(breaker: string, to: BreakerState): void;
  /** One generation ended (or was refused: outcome error), `seconds` after it was asked for. */
  generationEnded(provider: string, outcome: GenerationOutcome, seconds?: number): void;
  /** One embedding call ended (or was refused: outcome error), `seconds` after it was asked for. */
  embeddingEnded(provider: string, outcome: GenerationOutcome, seconds: number): void;
  firstToken(provider: string, seconds: number): void;
  /** The usage the server reported (in a generation's final event, or with embeddings); unknown counts are skipped. */
  tokens(provider: string, usage: TokenUsage): void;
  error(provider: string, kind: string): void;
  retry(provider: string): void;
  /** Generations holding an instance slot, and generations waiting for one. */
  slots(inFlight: number, queued: number): void;
}

const STATE_VALUE: Record<BreakerState, number> = { closed: 0, open: 1, half_open: 2 };

// From a quick answer to a model that takes minutes to load and then streams for several more.
const DURATION_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600];
const FIRST_TOKEN_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export function createLlmMetrics(registry: Registry): LlmMetrics {
  const registers = [registry];
  const state = new Gauge({
    name: 'circuit_breaker_state',
    help: 'Circuit breaker state: 0 closed, 1 open, 2 half-open.',
    labelNames: ['breaker'],
    // Over cluster workers the worst one counts: a sum of states means nothing.
    aggregator: 'max',
    registers,
  });
  const transitions = new Counter({
    name: 'circuit_breaker_transitions_total',
    help: 'Circuit breaker state changes, by the state entered.',
    labelNames: ['breaker', 'to'],
    registers,
  });
  const requests = new Counter({
    name: 'llm_requests_total',
    help: 'Generations asked of the LLM service, by outcome (refusals by the breaker or the bulkheads are errors).',
    labelNames: ['provider', 'outcome'],
    registers,
  });
  const duration = new Histogram({
    name: 'llm_request_duration_seconds',
    help: 'Time from asking for a generation (queueing included) to its end.',
    labelNames: ['provider'],
    buckets: DURATION_BUCKETS,
    registers,
  });
  const firstToken = new Histogram({
    name: 'llm_time_to_first_token_seconds',
    help: 'Time from asking for a generation (queueing and retries included) to its first token.',
    labelNames: ['provider'],
    buckets: FIRST_TOKEN_BUCKETS,
    registers,
  });
  const tokens = new Counter({
    name: 'llm_tokens_total',
    help:
      'Tokens the LLM server reported, by direction ' +
      '(prompt: read, by generations and embeddings; completion: generated).',
    labelNames: ['provider', 'direction'],
    registers,
  });
  const embeddings = new Counter({
    name: 'llm_embedding_requests_total',
    help: 'Embedding calls asked of the LLM service, by outcome (refusals by the breaker or the bulkheads are errors).',
    labelNames: ['provider', 'outcome'],
    registers,
  });
  const embeddingDuration = new Histogram({
    name: 'llm_embedding_duration_seconds',
    help: 'Time from asking for embeddings (queueing and retries included) to the answer.',
    labelNames: ['provider'],
    buckets: DURATION_BUCKETS,
    registers,
  });
  const errors = new Counter({
    name: 'llm_errors_total',
    help: 'Failed LLM calls (generations, embeddings, model lists and details), by kind of error.',
    labelNames: ['provider', 'kind'],
    registers,
  });
  const retries = new Counter({
    name: 'llm_retries_total',
    help: 'LLM calls tried again after a retryable failure.',
    labelNames: ['provider'],
    registers,
  });
  const inFlight = new Gauge({
    name: 'llm_generations_in_flight',
    help: 'Generations holding one of the LLM_MAX_CONCURRENT slots of this instance.',
    registers,
  });
  const queueLength = new Gauge({
    name: 'llm_queue_length',
    help: 'Generations waiting for a slot (at most LLM_QUEUE_SIZE).',
    registers,
  });

  return {
    breakerState: (breaker, to) => state.set({ breaker }, STATE_VALUE[to]),
    breakerTransition: (breaker, to) => {
      state.set({ breaker }, STATE_VALUE[to]);
      transitions.inc({ breaker, to });
    },
    generationEnded: (provider, outcome, seconds) => {
      requests.inc({ provider, outcome });
      if (seconds !== undefined) duration.observe({ provider }, seconds);
    },
    embeddingEnded: (provider, outcome, seconds) => {
      embeddings.inc({ provider, outcome });
      embeddingDuration.observe({ provider }, seconds);
    },
    firstToken: (provider, seconds) => firstToken.observe({ provider }, seconds),
    tokens: (provider, usage) => {
      // A counter only goes up: unknown (null) or nonsensical counts are left out rather than thrown on.
      if ((usage.promptTokens ?? 0) > 0)
        tokens.inc({ provider, direction: 'prompt' }, usage.promptTokens ?? 0);
      if ((usage.completionTokens ?? 0) > 0) {
        tokens.inc({ provider, direction: 'completion' }, usage.completionTokens ?? 0);
      }
    },
    error: (provider, kind) => errors.inc({ provider, kind }),
    retry: (provider) => retries.inc({ provider }),
    slots: (active, queued) => {
      inFlight.set(active);
      queueLength.set(queued);
    },
  };
}
