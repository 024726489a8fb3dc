// The resilient face of the LLM port that chat uses: per-user and per-instance concurrency limits, a circuit breaker
// per provider and retries before the first token, with their metrics. Free of HTTP: it throws LlmError subclasses.
//
// Bridging cockatiel (which wraps promises) and a streamed generation (an async iterator):
// - Retries wrap *opening* the stream up to its first event. Until then nothing has reached the consumer, so trying
//   again is invisible to it; after it, any failure surfaces as it is, after the tokens already yielded. A client who
//   leaves during a backoff ends the wait at once (see #retrying).
// - The breaker decides admission and records outcomes: each generation runs `breaker.execute(() => verdict)` where
//   `verdict` is a promise this service settles when the generation ends (resolved on completion, rejected with
//   its error). The events themselves flow straight from the provider to the consumer, with no queue in between
//   and the consumer's own back-pressure. Consuming the whole stream inside execute() would need a buffer and a
//   second task per generation for the same effect.
// - A client abort (or the consumer stopping early) counts as neither success nor failure: outside half-open the
//   verdict is rejected with an error the breaker's filter ignores; an aborted half-open probe proved nothing, so
//   its unsettled verdict passes to the next caller, who becomes the probe (cockatiel would close the circuit on
//   an ignored error in half-open, and has no way to say "no outcome").
// - An error that is not the server's fault (unknown model, HTTP 4xx: `breakerFailure` false) is ignored by the
//   breaker while closed, and proves the server alive when it ends a half-open probe (cockatiel closes the circuit).
// - An embedding is real work of the model server: it runs like a generation (slots, admission, retries) and its
//   outcome counts for the breaker as a generation's does. Questions about the models (their list, one's details)
//   only close a half-open breaker as its probe (see #lookup).
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  circuitBreaker,
  handleWhen,
  type CircuitBreakerPolicy,
  type IBackoff,
} from 'cockatiel';
import type { BaseLogger } from 'pino';
import type { Config } from '../../config.js';
import { LlmCircuitOpenError, LlmError, LlmProtocolError } from './llm.errors.js';
import { InstanceSlots, abortError } from './instance-slots.js';
import { MemoryUserSlots, type UserSlots } from './user-slots.js';
import type { BreakerState, LlmMetrics } from './llm.metrics.js';
import type {
  EmbeddingResult,
  GenerationEvent,
  GenerationRequest,
  LlmCallOptions,
  LlmProvider,
  ModelDetails,
  ModelInfo,
} from './llm.port.js';

export interface LlmServiceDeps {
  provider: LlmProvider;
  config: Config['llm'];
  metrics: LlmMetrics;
  logger?: Pick<BaseLogger, 'info' | 'warn'>;
  /** Per-user generation slots; default: counted in this process. */
  userSlots?: UserSlots;
}

/** Who asks: `key` is the user id, or the client address for anonymous chat (LLM_MAX_CONCURRENT_PER_USER). */
export interface LlmCaller {
  key: string;
}

type Outcome = { kind: 'success' } | { kind: 'error'; error: unknown } | { kind: 'aborted' };

/** The breaker's pending verdict on one admitted call; `probe` when it is the half-open test call. */
interface Verdict {
  probe: boolean;
  resolve(): void;
  reject(error: unknown): void;
}

/** Settles an aborted call's verdict without counting it: the breaker's filter lets it through unrecorded. */
class NotCounted extends Error {}

const countsAgainstBreaker = (error: unknown): boolean =>
  !(error instanceof NotCounted) && (error instanceof LlmError ? error.breakerFailure : true);

const errorKind = (error: unknown): string => (error instanceof LlmError ? error.kind : 'unknown');

const retryable = (error: unknown): boolean => error instanceof LlmError && error.retryable;

export class LlmService {
  readonly providerName: string;
  readonly baseUrl: string;
  readonly defaultModel: string;
  readonly #provider: LlmProvider;
  readonly #config: Config['llm'];
  readonly #metrics: LlmMetrics;
  readonly #breaker: CircuitBreakerPolicy;
  /** Decorrelated jitter around LLM_RETRY_BASE_MS, 2×, 4×…: concurrent retries miss each other. */
  readonly #backoff: ExponentialBackoff<unknown>;
  readonly #maxRetries: number;
  readonly #slots: InstanceSlots;
  readonly #userSlots: UserSlots;
  #openedAt = 0;
  /** An aborted half-open probe's verdict, waiting for the next caller to carry it. */
  #orphanedProbe: Verdict | undefined;

  constructor({ provider, config, metrics, logger, userSlots }: LlmServiceDeps) {
    this.#userSlots = userSlots ?? new MemoryUserSlots();
    this.#provider = provider;
    this.#config = config;
    this.#metrics = metrics;
    this.providerName = provider.name;
    this.baseUrl = provider.baseUrl;
    this.defaultModel = config.defaultModel;
    const name = provider.name;

    this.#breaker = circuitBreaker(handleWhen(countsAgainstBreaker), {
      halfOpenAfter: config.breaker.openMs,
      breaker: new ConsecutiveBreaker(config.breaker.threshold),
    });
    metrics.breakerState(name, 'closed');
    // cockatiel reads Date.now() when it opens; so does this, just after, for the Retry-After of refusals.
    this.#breaker.onBreak(() => {
      this.#openedAt = Date.now();
    });
    this.#breaker.onStateChange((state) => {
      const to = breakerStateOf(state);
      metrics.breakerTransition(name, to);
      if (to === 'open') logger?.warn({ provider: name }, 'LLM circuit breaker opened');
      else
        logger?.info({ provider: name }, `LLM circuit breaker ${to === 'closed' ? 'closed' : 'half-open'}`);
      // An older call's failure re-opened the circuit while an aborted probe waited for a carrier: drop it.
      if (state !== CircuitState.HalfOpen && this.#orphanedProbe) {
        this.#orphanedProbe.reject(new NotCounted());
        this.#orphanedProbe = undefined;
      }
    });

    this.#backoff = new ExponentialBackoff({
      initialDelay: config.retry.baseMs,
      maxDelay: Math.max(30_000, config.retry.baseMs),
    });
    this.#maxRetries = config.retry.attempts - 1;
    this.#slots = new InstanceSlots(config.maxConcurrent, config.queueSize, (active, queued) =>
      metrics.slots(active, queued),
    );
  }

  /** '' / null / undefined / 'tinyllama' (the original clients' default) → DEFAULT_MODEL; otherwise trimmed. */
  normaliseModel(model?: string | null): string {
    const name = (model ?? '').trim();
    return name === '' || name === 'tinyllama' ? this.defaultModel : name;
  }

  breakerState(): BreakerState {
    return breakerStateOf(this.#breaker.state);
  }

  /**
   * Resolves once the generation may begin (the caller's slot, an instance slot and the breaker's admission are
   * taken), with its events. The slots are held until the iteration ends: completed, failed, or stopped early by
   * `return()` / `break` (a caller that will not read it must call `return()`), or the signal aborts before it.
   */
  async start(request: GenerationRequest, caller: LlmCaller): Promise<AsyncIterable<GenerationEvent>> {
    const startedAt = performance.now();
    const releases: (() => void)[] = [];
    const release = () => {
      for (const give of releases.splice(0).reverse()) give();
    };
    try {
      request.signal?.throwIfAborted();
      // Fail fast, before taking or queueing for anything; the real admission is below, once a slot is held.
      this.#refuseIfOpen();
      releases.push(await this.#takeUserSlot(caller.key));
      releases.push(await this.#slots.acquire(request.signal));
      request.signal?.throwIfAborted();
      const verdict = this.#admit();
      return this.#generation(request, verdict, release, startedAt);
    } catch (error) {
      release();
      this.#recordEnd(outcomeOf(error, request.signal));
      throw error;
    }
  }

  /** The provider's models, through the breaker and the retries (a cheap call, it may serve as the probe). */
  listModels(options: LlmCallOptions = {}): Promise<ModelInfo[]> {
    return this.#lookup(() => this.#provider.listModels(options), options.signal);
  }

  /** One model's details (the name normalised), as listModels goes; ModelNotFoundError for an unknown model. */
  showModel(model: string | null | undefined, options: LlmCallOptions = {}): Promise<ModelDetails> {
    const name = this.normaliseModel(model);
    return this.#lookup(() => this.#provider.showModel(name, options), options.signal);
  }

  /**
   * Embeddings of `inputs` (at least one) with `model` (normalised), run as a generation is: the caller's slot and an
   * instance slot (held until the answer, or until the signal aborts), the breaker's admission, retries.
   */
  async embed(
    model: string | null | undefined,
    inputs: string[],
    options: LlmCallOptions & LlmCaller,
  ): Promise<EmbeddingResult> {
    const { signal, requestId, key } = options;
    const asked = (model ?? '').trim();
    // Embedding models are not chat models: a request naming none gets EMBEDDING_MODEL (DEFAULT_MODEL when unset).
    const name = asked === '' ? this.#config.embeddingModel : this.normaliseModel(asked);
    const startedAt = performance.now();
    const releases: (() => void)[] = [];
    let verdict: Verdict | undefined;
    try {
      signal?.throwIfAborted();
      // Fail fast, before taking or queueing for anything; the real admission is below, once a slot is held.
      this.#refuseIfOpen();
      releases.push(await this.#takeUserSlot(key));
      releases.push(await this.#slots.acquire(signal));
      signal?.throwIfAborted();
      verdict = this.#admit();
      const result = await this.#retrying(
        () => this.#provider.embed(name, inputs, { signal, requestId }),
        signal,
      );
      this.#settle(verdict, { kind: 'success' });
      this.#metrics.embeddingEnded(this.providerName, 'success', (performance.now() - startedAt) / 1000);
      this.#metrics.tokens(this.providerName, { promptTokens: result.promptTokens, completionTokens: null });
      return result;
    } catch (error) {
      const outcome = outcomeOf(error, signal);
      if (verdict) this.#settle(verdict, outcome);
      if (outcome.kind === 'error') this.#metrics.error(this.providerName, errorKind(error));
      this.#metrics.embeddingEnded(this.providerName, outcome.kind, (performance.now() - startedAt) / 1000);
      throw error;
    } finally {
      for (const give of releases.reverse()) give();
    }
  }

  /**
   * A question about the models (their list, one's details), through the breaker and the retries; no slots, it is
   * cheap. Its answer says little about generations (/api/tags and /api/show work while a crashed runner fails every
   * /api/chat): it closes a half-open breaker as its probe, but never wipes out the failures counted so far.
   */
  async #lookup<T>(call: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    let verdict: Verdict | undefined;
    try {
      verdict = this.#admit();
      const answer = await this.#retrying(call, signal);
      this.#settle(verdict, verdict.probe ? { kind: 'success' } : { kind: 'aborted' });
      return answer;
    } catch (error) {
      const outcome = outcomeOf(error, signal);
      if (verdict) this.#settle(verdict, outcome);
      if (outcome.kind === 'error') this.#metrics.error(this.providerName, errorKind(error));
      throw error;
    }
  }

  /**
   * Calls `attempt` until it succeeds, fails with an error that is not retryable, or LLM_RETRY_ATTEMPTS calls were
   * made, with a backoff between two calls. Not cockatiel's RetryPolicy: its execute(fn, signal) (3.2.1) sleeps the
   * backoff on a timer that ignores the signal and then calls fn once more, so a client who left during a 4 s backoff
   * held its slots for those 4 s. Here an abort ends the wait at once, with the abort error, and nothing more is
   * tried. An attempt that fails once the signal has aborted is not tried again either.
   */
  async #retrying<T>(attempt: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    let backoff: IBackoff<unknown> | undefined;
    for (let retries = 0; ; retries++) {
      try {
        return await attempt();
      } catch (error) {
        if (signal?.aborted || retries >= this.#maxRetries || !retryable(error)) throw error;
        backoff = backoff ? backoff.next(undefined) : this.#backoff.next();
        this.#metrics.retry(this.providerName);
        await sleep(backoff.duration, undefined, { signal }).catch((failure: unknown) => {
          throw signal?.aborted ? abortError(signal) : failure;
        });
      }
    }
  }

  #generation(
    request: GenerationRequest,
    verdict: Verdict,
    release: () => void,
    startedAt: number,
  ): AsyncIterable<GenerationEvent> {
    const signal = request.signal;
    let ended = false;
    let started = false;
    const end = (outcome: Outcome) => {
      if (ended) return;
      ended = true;
      signal?.removeEventListener('abort', abortedUnread);
      release();
      this.#settle(verdict, outcome);
      this.#recordEnd(outcome, startedAt);
    };
    // Once reading has begun, the stream's own ending releases; before, an abort or return() must.
    const abortedUnread = () => {
      if (!started) end({ kind: 'aborted' });
    };
    signal?.addEventListener('abort', abortedUnread, { once: true });
    const events = this.#stream(request, startedAt, end);
    const iterator: AsyncIterableIterator<GenerationEvent, void, undefined> = {
      next: () => {
        started = true;
        return events.next();
      },
      return: () => {
        if (!started) end({ kind: 'aborted' });
        return events.return(undefined);
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  async *#stream(
    request: GenerationRequest,
    startedAt: number,
    end: (outcome: Outcome) => void,
  ): AsyncGenerator<GenerationEvent, void, undefined> {
    const provider = this.providerName;
    let upstream: AsyncIterator<GenerationEvent> | undefined;
    let finished = false;
    let sawDone = false;
    try {
      const opened = await this.#retrying(async () => {
        const iterator = this.#provider.generate(request)[Symbol.asyncIterator]();
        return { iterator, first: await iterator.next() };
      }, request.signal);
      upstream = opened.iterator;
      let sawToken = false;
      for (let step = opened.first; !step.done; step = await upstream.next()) {
        const event = step.value;
        if (event.type === 'token' && !sawToken) {
          sawToken = true;
          this.#metrics.firstToken(provider, (performance.now() - startedAt) / 1000);
        } else if (event.type === 'done') {
          sawDone = true;
          this.#metrics.tokens(provider, event.usage);
        }
        yield event;
      }
      if (!sawDone) throw new LlmProtocolError(provider, 'the stream ended without its final event');
      finished = true;
      end({ kind: 'success' });
    } catch (error) {
      finished = true;
      end(outcomeOf(error, request.signal));
      throw error;
    } finally {
      if (!finished) {
        // The consumer stopped early: close the provider's stream (its adapter cancels the upstream call). Stopping
        // at the final event is still a complete answer; before it, the generation proved nothing either way.
        try {
          await upstream?.return?.();
        } catch {
          // Closing a stream nobody reads any more: nothing to report to anyone.
        } finally {
          end(sawDone ? { kind: 'success' } : { kind: 'aborted' });
        }
      }
    }
  }

  /** The caller's slot (LLM_MAX_CONCURRENT_PER_USER, shared by every instance when Redis is configured). */
  #takeUserSlot(key: string): Promise<() => void> {
    return this.#userSlots.take(key, this.#config.maxConcurrentPerUser);
  }

  #refuseIfOpen(): void {
    const state = this.#breaker.state;
    if (state === CircuitState.HalfOpen && !this.#orphanedProbe) throw this.#circuitOpen();
    if (state === CircuitState.Isolated) throw this.#circuitOpen();
    if (state === CircuitState.Open && Date.now() - this.#openedAt < this.#config.breaker.openMs) {
      throw this.#circuitOpen();
    }
  }

  /** The breaker's admission of one call, or LlmCircuitOpenError. */
  #admit(): Verdict {
    const state = this.#breaker.state;
    if (state === CircuitState.HalfOpen) {
      // cockatiel would hold further calls until the probe ends (minutes, for a loading model): refuse them.
      const orphan = this.#orphanedProbe;
      if (!orphan) throw this.#circuitOpen();
      this.#orphanedProbe = undefined;
      return orphan;
    }
    let resolve: () => void = () => undefined;
    let reject: (error: unknown) => void = () => undefined;
    const outcome = new Promise<void>((ok, fail) => ((resolve = ok), (reject = fail)));
    // The rejection echoes an outcome this service already knows and reports itself.
    this.#breaker.execute(() => outcome).catch(() => undefined);
    // execute() decides synchronously: still open means refused, open → half-open means this call is the probe.
    const now = this.#breaker.state;
    if (now === CircuitState.Open || now === CircuitState.Isolated) throw this.#circuitOpen();
    return { probe: state === CircuitState.Open, resolve, reject };
  }

  #settle(verdict: Verdict, outcome: Outcome): void {
    if (outcome.kind === 'success') verdict.resolve();
    else if (outcome.kind === 'error') verdict.reject(outcome.error);
    else if (verdict.probe && this.#breaker.state === CircuitState.HalfOpen) this.#orphanedProbe = verdict;
    else verdict.reject(new NotCounted());
  }

  #circuitOpen(): LlmCircuitOpenError {
    const leftMs =
      this.#breaker.state === CircuitState.Open
        ? this.#openedAt + this.#config.breaker.openMs - Date.now()
        : 0;
    return new LlmCircuitOpenError(this.providerName, leftMs / 1000);
  }

  #recordEnd(outcome: Outcome, startedAt?: number): void {
    if (outcome.kind === 'error') this.#metrics.error(this.providerName, errorKind(outcome.error));
    const seconds = startedAt === undefined ? undefined : (performance.now() - startedAt) / 1000;
    this.#metrics.generationEnded(this.providerName, outcome.kind, seconds);
  }
}

function outcomeOf(error: unknown, signal: AbortSignal | undefined): Outcome {
  return signal?.aborted ? { kind: 'aborted' } : { kind: 'error', error };
}

function breakerStateOf(state: CircuitState): BreakerState {
  switch (state) {
    case CircuitState.Closed:
      return 'closed';
    case CircuitState.HalfOpen:
      return 'half_open';
    case CircuitState.Open:
    case CircuitState.Isolated:
      return 'open';
  }
}
