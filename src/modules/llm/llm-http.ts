// The HTTP client of one LLM provider: an undici Agent whose timeouts suit slow local models, and two ways to call
// through it that speak only our errors: `request` (undici's own API with a Node stream body: the Ollama adapter,
// where every chat pays for it before its first token — WHATWG fetch costs several times more CPU per call) and
// `fetch` (for the openai client, which needs a fetch). A model may load for minutes before its first byte, so the
// wait for response headers is the first-token timeout; the wait between two body chunks is the idle timeout; a timer
// bounds the whole call.
// Every failure, whether before the answer or while its body streams, leaves here as an LlmError, except the caller's
// own abort, which rejects with the caller's `signal.reason` (a DOMException named 'AbortError' unless the caller
// gave another reason), so that code above can tell "the client left" from "the server failed".
import { StringDecoder } from 'node:string_decoder';
import { Agent, request as undiciRequest, fetch as undiciFetch, type Dispatcher } from 'undici';
import type { Config } from '../../config.js';
import { redactUrlPassword } from '../../lib/redact-url.js';
import { LlmError, LlmProtocolError, LlmTimeoutError, LlmUnavailableError } from './llm.errors.js';

/** The parts of a fetch init this client uses; both adapters (and the openai client's own init) fit it. */
export interface LlmFetchInit {
  method?: string;
  headers?: Headers | Record<string, string> | [string, string][];
  body?: string | null;
  /** The caller's signal: aborting it cancels the upstream request (the connection is closed). */
  signal?: AbortSignal | null;
}

export type LlmFetch = (url: string | URL, init?: LlmFetchInit, requestId?: string) => Promise<Response>;

export interface LlmRequestInit {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** The caller's signal: aborting it cancels the upstream request (the connection is closed). */
  signal?: AbortSignal | undefined;
}

/** An answer whose body is read once, by `chunks()` or `text()`, or given up with `cancel()`. */
export interface LlmResponse {
  status: number;
  ok: boolean;
  /** The body as it arrives; it fails only with our errors (or the caller's abort reason), and ends the call. */
  chunks(): AsyncIterable<Buffer>;
  text(): Promise<string>;
  /**
   * The answer is whole by its protocol (Ollama's `done` line): reading may stop, and cancel() then lets the rest of
   * the body (normally only its end) arrive instead of cutting the connection, which stays open for the next call.
   */
  complete(): void;
  /** Stops reading: an answer that had not ended has its connection closed, so the server sees us leave. */
  cancel(): void;
}

export type LlmRequest = (url: string, init?: LlmRequestInit, requestId?: string) => Promise<LlmResponse>;

export interface LlmHttp {
  request: LlmRequest;
  fetch: LlmFetch;
  /** Destroys the agent and its sockets: calls still running fail at once. */
  close: () => Promise<void>;
}

// The two undici timeouts we set; every other transport failure (refused, reset, closed, DNS, connect timeout: codes
// ECONNREFUSED, ECONNRESET, ENOTFOUND, UND_ERR_SOCKET, UND_ERR_CONNECT_TIMEOUT …) means the server is not there.
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

export function createLlmHttp(provider: string, timeouts: Config['llm']['timeouts']): LlmHttp {
  const agent = new Agent({
    connect: { timeout: timeouts.connectMs },
    headersTimeout: timeouts.firstTokenMs,
    bodyTimeout: timeouts.idleMs,
    // Idle connections are kept for reuse, but for less than the 5 s after which common servers (uvicorn under
    // vLLM) close them, so that a request never goes out on a socket the server is closing.
    keepAliveTimeout: 4_000,
  });
  // undici runs headersTimeout and bodyTimeout on coarse timers (about 1 s of resolution): they may fire up to a
  // second late, which is nothing next to their minute-long defaults (tests with tiny values must allow for it).

  const fetch: LlmFetch = async (url, init = {}, requestId) => {
    const call = new CallState(provider, init.signal ?? undefined, timeouts.totalMs);
    const headers = new Headers(init.headers);
    if (requestId) headers.set('X-Request-ID', requestId);
    let upstream: Awaited<ReturnType<typeof undiciFetch>>;
    try {
      upstream = await undiciFetch(url, {
        method: init.method ?? 'GET',
        headers,
        body: init.body ?? null,
        signal: call.signal,
        dispatcher: agent,
      });
    } catch (error) {
      call.finish();
      throw call.toError(error);
    }
    const body = upstream.body ? guardBody(upstream.body, call) : null;
    if (!body) call.finish();
    // A Response of the platform's own class, whose body fails only with our errors (see guardBody).
    return new Response(body, {
      status: upstream.status,
      statusText: upstream.statusText,
      headers: upstream.headers,
    });
  };

  const request: LlmRequest = async (url, init = {}, requestId) => {
    const call = new CallState(provider, init.signal, timeouts.totalMs);
    const headers = requestId ? { ...init.headers, 'x-request-id': requestId } : init.headers;
    let answer: Dispatcher.ResponseData;
    try {
      answer = await undiciRequest(url, {
        method: init.method ?? 'GET',
        ...(headers ? { headers } : {}),
        ...(init.body === undefined ? {} : { body: init.body }),
        signal: call.signal,
        dispatcher: agent,
      });
    } catch (error) {
      call.finish();
      throw call.toError(error);
    }
    return new GuardedResponse(answer, call);
  };

  return { request, fetch, close: () => agent.destroy() };
}

/** What is read after a complete answer before giving up its connection (a server that keeps sending loses it). */
const DRAIN_LIMIT_BYTES = 64 * 1024;

class GuardedResponse implements LlmResponse {
  readonly status: number;
  readonly ok: boolean;
  #complete = false;

  constructor(
    private readonly answer: Dispatcher.ResponseData,
    private readonly call: CallState,
  ) {
    this.status = answer.statusCode;
    this.ok = answer.statusCode >= 200 && answer.statusCode < 300;
  }

  async *chunks(): AsyncGenerator<Buffer, void, undefined> {
    let received = false;
    let ended = false;
    try {
      // Leaving a plain for-await early would destroy the body at once, closing the connection even after a complete
      // answer: cancel() decides instead.
      for await (const chunk of this.answer.body.iterator({ destroyOnReturn: false })) {
        received = true;
        yield chunk as Buffer;
      }
      ended = true;
      this.call.finish();
    } catch (error) {
      ended = true;
      this.cancel();
      throw this.call.toError(error, received);
    } finally {
      // The reader stopped early: the rest of the answer is not wanted.
      if (!ended) this.cancel();
    }
  }

  async text(): Promise<string> {
    const decoder = new StringDecoder('utf8');
    let text = '';
    for await (const chunk of this.chunks()) text += decoder.write(chunk);
    return text + decoder.end();
  }

  complete(): void {
    this.#complete = true;
  }

  cancel(): void {
    this.call.finish();
    if (this.#complete) {
      // Cutting a finished answer's last bytes would close a connection that could serve the next call (a new TCP
      // connection per chat cost more than anything else before the first token). A body that never ends is ended
      // by undici's idle timeout.
      void this.answer.body.dump({ limit: DRAIN_LIMIT_BYTES }).catch(() => undefined);
      return;
    }
    // Destroying undici's body before its end aborts the request and closes the connection; after it, a no-op. The
    // abort error it emits is ours: nobody else is listening.
    const body = this.answer.body;
    if (body.destroyed) return;
    body.on('error', () => undefined);
    body.destroy();
  }
}

/** One call's abort wiring: the caller's signal plus the total-timeout timer, and which of them fired. */
class CallState {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private timedOut = false;
  private readonly onCallerAbort = () => this.controller.abort(this.caller?.reason);

  constructor(
    private readonly provider: string,
    private readonly caller: AbortSignal | null | undefined,
    totalMs: number,
  ) {
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort(new LlmTimeoutError('total', provider));
    }, totalMs);
    // The timer bounds a call; it must not keep a stopping process alive.
    this.timer.unref();
    if (caller?.aborted) this.onCallerAbort();
    else caller?.addEventListener('abort', this.onCallerAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The call is over (answered in full, failed or cancelled): release the timer and the listener. */
  finish(): void {
    clearTimeout(this.timer);
    this.caller?.removeEventListener('abort', this.onCallerAbort);
  }

  /**
   * What to throw for a failure of this call, whatever undici raised. `midAnswer`: part of the answer had arrived —
   * a connection that breaks then is a broken answer (502, not retried), not an unreachable server.
   */
  toError(error: unknown, midAnswer = false): unknown {
    if (this.caller?.aborted) return this.caller.reason as unknown;
    if (this.timedOut) return new LlmTimeoutError('total', this.provider);
    if (error instanceof LlmError) return error;
    const code = findCode(error);
    if (code === 'UND_ERR_HEADERS_TIMEOUT') return new LlmTimeoutError('first_token', this.provider);
    if (code === 'UND_ERR_BODY_TIMEOUT') return new LlmTimeoutError('idle', this.provider);
    if (midAnswer) return new LlmProtocolError(this.provider, 'the connection broke before the answer ended');
    // The cause is kept for the log line.
    return new LlmUnavailableError(this.provider, error);
  }
}

/**
 * Passes the body through, turning its failures (idle timeout, dropped connection, total timeout, caller abort) into
 * what CallState.toError says, and ending the call when the body ends or the reader cancels it.
 */
function guardBody(body: ReadableStream<Uint8Array>, call: CallState): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let received = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const chunk = await reader.read();
        if (chunk.done) {
          call.finish();
          controller.close();
        } else {
          received = true;
          controller.enqueue(chunk.value);
        }
      } catch (error) {
        call.finish();
        controller.error(call.toError(error, received));
      }
    },
    async cancel(reason) {
      call.finish();
      // Cancelling undici's body closes the connection when the answer had not ended: the server sees us leave.
      await reader.cancel(reason).catch(() => undefined);
    },
  });
}

/** The undici timeout code in an error, its causes, or an AggregateError's errors. */
function findCode(error: unknown, depth = 0): string | undefined {
  if (depth > 5 || typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && TIMEOUT_CODES.has(code)) return code;
  if (error instanceof AggregateError) {
    for (const inner of error.errors) {
      const found = findCode(inner, depth + 1);
      if (found) return found;
    }
  }
  return findCode((error as { cause?: unknown }).cause, depth + 1);
}

/** A provider's base URL fit for health answers and logs: a password in it (unusual, but possible) is masked. */
export function displayUrl(url: string): string {
  return url.includes('@') ? redactUrlPassword(url, () => '(an unparsable URL)') : url;
}
