// The circuit breaker in front of one LLM server: closed, open for LLM_BREAKER_OPEN_MS after LLM_BREAKER_THRESHOLD
// consecutive failures, then half-open with exactly one probe whose outcome closes or re-opens it.
//
// Hand-written rather than cockatiel's CircuitBreakerPolicy (3.2.1), which:
// - reads Date.now() itself, so tests had to sleep through the open time instead of moving an injected Clock;
// - wraps a promise per call and knows only success or failure, while a generation may end with no outcome at all
//   (the client left): an aborted probe proved nothing and must hand the probe to the next caller, and cockatiel
//   closes the circuit on any error its filter ignores in half-open;
// - holds every call that arrives in half-open until the probe ends (minutes, for a loading model) where this
//   service refuses them at once.
// What it decides is small: a state, a count, the time it opened and whether a probe is out.
import type { Clock } from '../../lib/clock.js';
import { LlmCircuitOpenError } from './llm.errors.js';
import type { BreakerState } from './llm.metrics.js';

export interface CircuitBreakerOptions {
  /** The provider's name: the breaker's metric label and the refusal's wording. */
  name: string;
  threshold: number;
  openMs: number;
  clock: Clock;
  /** Whether an error counts against the server (false: the request's own fault, ignored while closed). */
  isFailure(error: unknown): boolean;
  /** Every state change, after it happened. */
  onTransition?(to: BreakerState): void;
}

/** One admitted call's claim on the breaker; settle it exactly once (later calls are ignored). */
export interface BreakerTicket {
  /** The half-open test call. */
  readonly probe: boolean;
  succeeded(): void;
  failed(error: unknown): void;
  /** Ended without saying anything about the server (the client left, or a question that proves nothing). */
  abandoned(): void;
}

export class CircuitBreaker {
  #state: BreakerState = 'closed';
  #failures = 0;
  #openedAt = 0;
  /** The ticket of the probe in flight, in half-open; undefined while none is out (none yet, or it was abandoned). */
  #probe: BreakerTicket | undefined;
  readonly #options: CircuitBreakerOptions;

  constructor(options: CircuitBreakerOptions) {
    this.#options = options;
  }

  get state(): BreakerState {
    return this.#state;
  }

  /**
   * Fails fast with LlmCircuitOpenError when admit() would refuse now, without changing anything: a caller checks
   * before queueing for a slot, and is admitted once it holds one.
   */
  check(): void {
    if (this.#state === 'open' && !this.#openTimeOver()) throw this.#refusal();
    if (this.#state === 'half_open' && this.#probe) throw this.#refusal();
  }

  /**
   * Admits one call or throws LlmCircuitOpenError. Open past its open time, the caller becomes the probe (open →
   * half-open); half-open, the caller becomes the probe only if none is out (the previous one was abandoned).
   */
  admit(): BreakerTicket {
    this.check();
    if (this.#state === 'closed') return this.#ticket(false);
    if (this.#state === 'open') this.#enter('half_open');
    const probe = this.#ticket(true);
    this.#probe = probe;
    return probe;
  }

  #ticket(probe: boolean): BreakerTicket {
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      outcome();
    };
    const ticket: BreakerTicket = {
      probe,
      succeeded: () =>
        settle(() => (probe ? this.#probeEnded(ticket, 'closed') : this.#closedCallSucceeded())),
      failed: (error) =>
        settle(() => {
          const failure = this.#options.isFailure(error);
          // As a probe, an error that is not the server's fault still proves the server answers.
          if (probe) this.#probeEnded(ticket, failure ? 'open' : 'closed');
          else if (failure) this.#closedCallFailed();
        }),
      // An abandoned probe proved nothing: the next caller becomes the probe.
      abandoned: () =>
        settle(() => {
          if (probe && this.#probe === ticket) this.#probe = undefined;
        }),
    };
    return ticket;
  }

  #probeEnded(ticket: BreakerTicket, to: 'open' | 'closed'): void {
    // A call admitted while closed re-opened the circuit while this probe ran: its verdict is out of date.
    if (this.#state !== 'half_open' || this.#probe !== ticket) return;
    this.#probe = undefined;
    if (to === 'open') this.#open();
    else this.#close();
  }

  /** A call admitted while closed may end in any state; its success only counts while closed. */
  #closedCallSucceeded(): void {
    if (this.#state === 'closed') this.#failures = 0;
  }

  /**
   * Closed: one more consecutive failure, opening at the threshold. Half-open: the server still fails what it was
   * given before the open time; the circuit re-opens (as cockatiel did) and the probe's coming verdict is dropped.
   * Open: already known.
   */
  #closedCallFailed(): void {
    if (this.#state === 'open') return;
    if (this.#state === 'half_open' || ++this.#failures >= this.#options.threshold) this.#open();
  }

  #open(): void {
    this.#probe = undefined;
    this.#openedAt = this.#now();
    this.#enter('open');
  }

  #close(): void {
    this.#failures = 0;
    this.#enter('closed');
  }

  #enter(state: BreakerState): void {
    this.#state = state;
    this.#options.onTransition?.(state);
  }

  #openTimeOver(): boolean {
    return this.#now() - this.#openedAt >= this.#options.openMs;
  }

  #refusal(): LlmCircuitOpenError {
    const leftMs = this.#state === 'open' ? this.#openedAt + this.#options.openMs - this.#now() : 0;
    return new LlmCircuitOpenError(this.#options.name, leftMs / 1000);
  }

  #now(): number {
    return this.#options.clock.now().getTime();
  }
}
