// LLM_RETRY_ATTEMPTS calls of one LLM request at most, with a backoff between two, that a client who leaves ends at
// once.
import { setTimeout as sleep } from 'node:timers/promises';
import { ExponentialBackoff, type IBackoff, type IBackoffFactory } from 'cockatiel';
import { abortError } from './instance-slots.js';
import { LlmError } from './llm.errors.js';

export interface RetryLoopOptions {
  /** Calls in all, the first included (LLM_RETRY_ATTEMPTS). */
  attempts: number;
  /** LLM_RETRY_BASE_MS. */
  baseMs: number;
  /** Called before each wait for another try. */
  onRetry?: () => void;
  /** Default: decorrelated jitter around baseMs, 2×, 4×… (concurrent retries miss each other), at most 30 s. */
  backoff?: IBackoffFactory<unknown>;
}

const retryable = (error: unknown): boolean => error instanceof LlmError && error.retryable;

/**
 * Not cockatiel's RetryPolicy: its execute(fn, signal) (3.2.1) sleeps the backoff on a timer that ignores the signal
 * and then calls fn once more, so a client who left during a 4 s backoff held its slots for those 4 s.
 */
export class RetryLoop {
  readonly #maxRetries: number;
  readonly #backoff: IBackoffFactory<unknown>;
  readonly #onRetry: () => void;

  constructor({ attempts, baseMs, onRetry, backoff }: RetryLoopOptions) {
    this.#maxRetries = attempts - 1;
    this.#onRetry = onRetry ?? (() => undefined);
    this.#backoff =
      backoff ?? new ExponentialBackoff({ initialDelay: baseMs, maxDelay: Math.max(30_000, baseMs) });
  }

  /**
   * Calls `attempt` until it succeeds, fails with an error that is not retryable (LlmError.retryable), or every
   * attempt was made; then throws that last error. An abort during a backoff ends the wait at once with the abort
   * error, and nothing more is tried; neither is an attempt that failed once the signal had aborted.
   */
  async run<T>(attempt: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    let backoff: IBackoff<unknown> | undefined;
    for (let retries = 0; ; retries++) {
      try {
        return await attempt();
      } catch (error) {
        if (signal?.aborted || retries >= this.#maxRetries || !retryable(error)) throw error;
        backoff = (backoff ?? this.#backoff).next(undefined);
        this.#onRetry();
        await sleep(backoff.duration, undefined, { signal }).catch((failure: unknown) => {
          throw signal?.aborted ? abortError(signal) : failure;
        });
      }
    }
  }
}
