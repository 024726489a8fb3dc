// What can go wrong talking to an LLM server, as domain errors with their HTTP answers (never 500, never a hang).
// `retryable` tells the retry policy which failures may be tried again (before any token reached the client).
import { AppError } from '../../platform/errors.js';

export abstract class LlmError extends AppError {
  abstract readonly retryable: boolean;
  /** Counts against the circuit breaker (the server is unwell), as opposed to a problem with this request. */
  abstract readonly breakerFailure: boolean;
  /** Label of llm_errors_total. */
  abstract readonly kind: string;
}

/** Connection refused, reset, DNS failure: the server is not there. */
export class LlmUnavailableError extends LlmError {
  readonly retryable = true;
  readonly breakerFailure = true;
  readonly kind = 'unreachable';
  constructor(provider: string, cause?: unknown) {
    super(`Cannot connect to the ${provider} service`, { status: 503, code: 'llm_unavailable', cause });
  }
}

/** No answer in time: before the first token (retryable) or between chunks / overall (not). */
export class LlmTimeoutError extends LlmError {
  readonly breakerFailure = true;
  readonly kind = 'timeout';
  constructor(
    readonly phase: 'first_token' | 'idle' | 'total',
    provider: string,
  ) {
    const what = { first_token: 'before the first token', idle: 'between two chunks', total: 'overall' }[
      phase
    ];
    super(`The ${provider} service timed out (${what})`, { status: 504, code: 'llm_timeout' });
  }
  get retryable(): boolean {
    return this.phase === 'first_token';
  }
}

/** The server answered with an error status (502/503/504 are retryable; other codes are not). */
export class LlmUpstreamError extends LlmError {
  readonly kind = 'upstream';
  constructor(
    readonly upstreamStatus: number,
    provider: string,
  ) {
    // The upstream body is not echoed: it may hold anything, markup included.
    super(`The ${provider} service answered with an error (HTTP ${upstreamStatus})`, {
      status: 502,
      code: 'llm_upstream_error',
    });
  }
  get retryable(): boolean {
    return [502, 503, 504].includes(this.upstreamStatus);
  }
  get breakerFailure(): boolean {
    return this.upstreamStatus >= 500;
  }
}

export class ModelNotFoundError extends LlmError {
  readonly retryable = false;
  readonly breakerFailure = false;
  readonly kind = 'model_not_found';
  constructor(readonly model: string) {
    super(`Model '${model}' not found`, { status: 404, code: 'model_not_found' });
  }
}

/** The model exists but only chats (Ollama answers 400 "… does not support embeddings"): the request's mistake. */
export class ModelCannotEmbedError extends LlmError {
  readonly retryable = false;
  readonly breakerFailure = false;
  readonly kind = 'model_cannot_embed';
  constructor(readonly model: string) {
    super(`Model '${model}' does not support embeddings`, { status: 400, code: 'model_cannot_embed' });
  }
}

/** The breaker is open: refused at once, without calling the server. */
export class LlmCircuitOpenError extends LlmError {
  readonly retryable = false;
  readonly breakerFailure = false;
  readonly kind = 'circuit_open';
  constructor(provider: string, retryAfterSeconds: number) {
    super(`The ${provider} service is temporarily unavailable (circuit breaker open)`, {
      status: 503,
      code: 'llm_circuit_open',
      retryAfterSeconds,
    });
  }
}

/** This instance has LLM_MAX_CONCURRENT generations running and its queue is full. */
export class LlmBusyError extends LlmError {
  readonly retryable = false;
  readonly breakerFailure = false;
  readonly kind = 'busy';
  constructor() {
    super('The server is busy with other generations; try again shortly', {
      status: 503,
      code: 'llm_busy',
      retryAfterSeconds: 1,
    });
  }
}

/** The caller already has LLM_MAX_CONCURRENT_PER_USER generations running. */
export class LlmUserLimitError extends LlmError {
  readonly retryable = false;
  readonly breakerFailure = false;
  readonly kind = 'user_limit';
  constructor(limit: number) {
    super(`Too many generations in flight: at most ${limit} at a time`, {
      status: 429,
      code: 'llm_user_limit',
      retryAfterSeconds: 1,
    });
  }
}

/** The stream ended without its final event, or carried something we cannot read. */
export class LlmProtocolError extends LlmError {
  readonly retryable = false;
  readonly breakerFailure = true;
  readonly kind = 'protocol';
  constructor(provider: string, detail: string) {
    super(`The ${provider} service sent an answer that could not be read (${detail})`, {
      status: 502,
      code: 'llm_protocol_error',
    });
  }
}
