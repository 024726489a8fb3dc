// The resilient face of the LLM port that chat uses: per-user and per-instance concurrency limits, the circuit
// breaker (circuit-breaker.ts) and the retries before the first token (retry-loop.ts), with their metrics. Free of
// HTTP: it throws LlmError subclasses.
//
// - Generations and embeddings are real work of the model server: they pass one admission (#admit: fail fast when
//   the circuit is open, the caller's slot, an instance slot, the breaker's admission) and their outcome counts for
//   the breaker. Questions about the models (their list, one's details) take no slot and only close a half-open
//   breaker as its probe (see #lookup).
// - Retries wrap *opening* a stream up to its first event. Until then nothing has reached the consumer, so trying
//   again is invisible to it; after it, any failure surfaces as it is, after the tokens already yielded.
// - The events flow straight from the provider to the consumer, with no queue in between and the consumer's own
//   back-pressure; the generation's end (completed, failed, or stopped early) settles its breaker ticket.
// - A client abort (or the consumer stopping early) counts as neither success nor failure; an aborted half-open
//   probe hands the probe to the next caller.
import type { BaseLogger } from 'pino';
import type { Config } from '../../config.js';
import type { Clock } from '../../lib/clock.js';
import { CircuitBreaker, type BreakerTicket } from './circuit-breaker.js';
import { InstanceSlots } from './instance-slots.js';
import { LlmError, LlmProtocolError } from './llm.errors.js';
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
import { RetryLoop } from './retry-loop.js';
import { MemoryUserSlots, type UserSlots } from './user-slots.js';

export interface LlmServiceDeps {
  provider: LlmProvider;
  config: Config['llm'];
  metrics: LlmMetrics;
  /** Time of the circuit breaker (its open time). */
  clock: Clock;
  logger?: Pick<BaseLogger, 'info' | 'warn'>;
  /** Per-user generation slots; default: counted in this process. */
  userSlots?: UserSlots;
}

/** Who asks: `key` is the user id, or the client address for anonymous chat (LLM_MAX_CONCURRENT_PER_USER). */
export interface LlmCaller {
  key: string;
}

/** The provider's models, or why they cannot be listed: `error` is a message fit for any client. */
export type ModelCatalog = { available: true; models: ModelInfo[] } | { available: false; error: string };

/** What a catalog says when the provider failed with something other than an LlmError. */
export const CATALOG_UNREACHABLE = 'The LLM server could not be reached';

type Outcome = { kind: 'success' } | { kind: 'error'; error: unknown } | { kind: 'aborted' };

/** An admitted call: its breaker ticket, and the slots it holds until release(). */
interface Admission {
  ticket: BreakerTicket;
  release(): void;
}

const errorKind = (error: unknown): string => (error instanceof LlmError ? error.kind : 'unknown');

export class LlmService {
  readonly providerName: string;
  readonly baseUrl: string;
  readonly defaultModel: string;
  readonly #provider: LlmProvider;
  readonly #config: Config['llm'];
  readonly #metrics: LlmMetrics;
  readonly #logger: Pick<BaseLogger, 'info' | 'warn'> | undefined;
  readonly #breaker: CircuitBreaker;
  readonly #retries: RetryLoop;
  readonly #slots: InstanceSlots;
  readonly #userSlots: UserSlots;

  constructor({ provider, config, metrics, clock, logger, userSlots }: LlmServiceDeps) {
    this.#userSlots = userSlots ?? new MemoryUserSlots();
    this.#provider = provider;
    this.#config = config;
    this.#metrics = metrics;
    this.#logger = logger;
    this.providerName = provider.name;
    this.baseUrl = provider.baseUrl;
    this.defaultModel = config.defaultModel;
    const name = provider.name;

    metrics.breakerState(name, 'closed');
    this.#breaker = new CircuitBreaker({
      name,
      threshold: config.breaker.threshold,
      openMs: config.breaker.openMs,
      clock,
      isFailure: (error) => (error instanceof LlmError ? error.breakerFailure : true),
      onTransition: (to) => {
        metrics.breakerTransition(name, to);
        if (to === 'open') logger?.warn({ provider: name }, 'LLM circuit breaker opened');
        else
          logger?.info({ provider: name }, `LLM circuit breaker ${to === 'closed' ? 'closed' : 'half-open'}`);
      },
    });
    this.#retries = new RetryLoop({
      attempts: config.retry.attempts,
      baseMs: config.retry.baseMs,
      onRetry: () => metrics.retry(name),
    });
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
    return this.#breaker.state;
  }

  /** Generations running and waiting in this process, and their bounds (LLM_MAX_CONCURRENT, LLM_QUEUE_SIZE). */
  load(): { inFlight: number; queued: number; maxConcurrent: number; queueSize: number } {
    const { active, queued } = this.#slots.usage();
    return {
      inFlight: active,
      queued,
      maxConcurrent: this.#config.maxConcurrent,
      queueSize: this.#config.queueSize,
    };
  }

  /**
   * Resolves once the generation may begin (see #admit), with its events. The slots are held until the iteration
   * ends: completed, failed, or stopped early by `return()` / `break` (a caller that will not read it must call
   * `return()`), or the signal aborts before it.
   */
  async start(request: GenerationRequest, caller: LlmCaller): Promise<AsyncIterable<GenerationEvent>> {
    const startedAt = performance.now();
    let admission: Admission;
    try {
      admission = await this.#admit(caller, request.signal);
    } catch (error) {
      this.#recordEnd(outcomeOf(error, request.signal));
      throw error;
    }
    return this.#generation(request, admission, startedAt);
  }

  /** The provider's models, through the breaker and the retries (a cheap call, it may serve as the probe). */
  listModels(options: LlmCallOptions = {}): Promise<ModelInfo[]> {
    return this.#lookup(() => this.#provider.listModels(options), options.signal);
  }

  /**
   * listModels for answers that report an unavailable provider instead of failing: the error's message when it is
   * an LlmError (their messages are written for clients), CATALOG_UNREACHABLE for anything else.
   */
  async catalog(options: LlmCallOptions = {}): Promise<ModelCatalog> {
    try {
      return { available: true, models: await this.listModels(options) };
    } catch (error) {
      if (error instanceof LlmError) return { available: false, error: error.message };
      this.#logger?.warn({ provider: this.providerName, err: error }, 'Listing the LLM models failed');
      return { available: false, error: CATALOG_UNREACHABLE };
    }
  }

  /** One model's details (the name normalised), as listModels goes; ModelNotFoundError for an unknown model. */
  showModel(model: string | null | undefined, options: LlmCallOptions = {}): Promise<ModelDetails> {
    const name = this.normaliseModel(model);
    return this.#lookup(() => this.#provider.showModel(name, options), options.signal);
  }

  /**
   * Embeddings of `inputs` (at least one) with `model` (normalised), run as a generation is: admitted as one (its
   * slots held until the answer, or until the signal aborts), with retries, its outcome counted by the breaker.
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
    let admission: Admission | undefined;
    try {
      admission = await this.#admit({ key }, signal);
      const result = await this.#retries.run(
        () => this.#provider.embed(name, inputs, { signal, requestId }),
        signal,
      );
      settle(admission.ticket, { kind: 'success' });
      this.#metrics.embeddingEnded(this.providerName, 'success', (performance.now() - startedAt) / 1000);
      this.#metrics.tokens(this.providerName, { promptTokens: result.promptTokens, completionTokens: null });
      return result;
    } catch (error) {
      const outcome = outcomeOf(error, signal);
      if (admission) settle(admission.ticket, outcome);
      if (outcome.kind === 'error') this.#metrics.error(this.providerName, errorKind(error));
      this.#metrics.embeddingEnded(this.providerName, outcome.kind, (performance.now() - startedAt) / 1000);
      throw error;
    } finally {
      admission?.release();
    }
  }

  /**
   * The one admission of generations and embeddings: fail fast when the circuit is open (before taking or queueing
   * for anything), the caller's slot (LLM_MAX_CONCURRENT_PER_USER, shared by every instance when Redis is
   * configured), an instance slot, then the breaker's admission, which may make this call the half-open probe.
   * Throws with nothing held.
   */
  async #admit(caller: LlmCaller, signal: AbortSignal | undefined): Promise<Admission> {
    const releases: (() => void)[] = [];
    const release = () => {
      for (const give of releases.splice(0).reverse()) give();
    };
    try {
      signal?.throwIfAborted();
      this.#breaker.check();
      releases.push(await this.#userSlots.take(caller.key, this.#config.maxConcurrentPerUser));
      releases.push(await this.#slots.acquire(signal));
      signal?.throwIfAborted();
      return { ticket: this.#breaker.admit(), release };
    } catch (error) {
      release();
      throw error;
    }
  }

  /**
   * A question about the models (their list, one's details), through the breaker and the retries; no slots, it is
   * cheap. Its answer says little about generations (/api/tags and /api/show work while a crashed runner fails every
   * /api/chat): it closes a half-open breaker as its probe, but never wipes out the failures counted so far.
   */
  async #lookup<T>(call: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    let ticket: BreakerTicket | undefined;
    try {
      ticket = this.#breaker.admit();
      const answer = await this.#retries.run(call, signal);
      settle(ticket, ticket.probe ? { kind: 'success' } : { kind: 'aborted' });
      return answer;
    } catch (error) {
      const outcome = outcomeOf(error, signal);
      if (ticket) settle(ticket, outcome);
      if (outcome.kind === 'error') this.#metrics.error(this.providerName, errorKind(error));
      throw error;
    }
  }

  #generation(
    request: GenerationRequest,
    admission: Admission,
    startedAt: number,
  ): AsyncIterable<GenerationEvent> {
    const signal = request.signal;
    let ended = false;
    let started = false;
    const end = (outcome: Outcome) => {
      if (ended) return;
      ended = true;
      signal?.removeEventListener('abort', abortedUnread);
      admission.release();
      settle(admission.ticket, outcome);
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
      const opened = await this.#retries.run(async () => {
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

  #recordEnd(outcome: Outcome, startedAt?: number): void {
    if (outcome.kind === 'error') this.#metrics.error(this.providerName, errorKind(outcome.error));
    const seconds = startedAt === undefined ? undefined : (performance.now() - startedAt) / 1000;
    this.#metrics.generationEnded(this.providerName, outcome.kind, seconds);
  }
}

function outcomeOf(error: unknown, signal: AbortSignal | undefined): Outcome {
  return signal?.aborted ? { kind: 'aborted' } : { kind: 'error', error };
}

function settle(ticket: BreakerTicket, outcome: Outcome): void {
  if (outcome.kind === 'success') ticket.succeeded();
  else if (outcome.kind === 'error') ticket.failed(outcome.error);
  else ticket.abandoned();
}
