// One chat WebSocket: who is on it (a token in the URL or header, an `auth` frame, or an anonymous owner), its slot
// within the connection limits, and its frames — each answered in order, bad ones with an `error` frame that leaves
// the socket working. A chat is the same ChatService.converse() call as HTTP's, so storage, limits, the breaker and
// exact text behave the same; its frames are published to the owner's other sockets (chat-broadcast.ts).
import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { RawData, WebSocket } from 'ws';
import type { Clock } from '../../../lib/clock.js';
import { addressKey } from '../../../platform/client-address.js';
import { mapError } from '../../../platform/error-handler.js';
import { NotFoundError } from '../../../platform/errors.js';
import { stringifyHtmlSafe } from '../../../platform/html-safe-json.js';
import { SHUTDOWN_CLOSE, type ManagedSocket } from '../../../platform/websocket/connection-manager.js';
import type { SlotRefusal } from '../../../platform/websocket/connection-slots.js';
import type { RejectionReason } from '../../../platform/websocket/websocket-metrics.js';
import type { WebSockets } from '../../../platform/websocket/websocket-plugin.js';
import { bearerToken, type Authenticated } from '../../auth/index.js';
import { chatOwner } from '../chat-anonymous-owner.js';
import { broadcastTurn, type ChannelMessage } from '../chat-broadcast.js';
import type { ChatHistoryService } from '../chat-history.service.js';
import { lookupKey, userOwner, type ChatOwner } from '../chat-owner.js';
import type { ChatEvent, ChatService } from '../chat.service.js';
import {
  HISTORY_LIMIT,
  connectionFrame,
  errorFrame,
  historyFrame,
  mappedErrorFrame,
  messageReceivedFrame,
  responseFrame,
  streamChunkFrame,
  streamEndFrame,
  streamStartFrame,
  type ChatFrame,
  type ClearFrame,
  type ClientFrame,
  type HistoryFrame,
} from './chat-ws-frames.js';
import { FrameRate } from './frame-rate.js';

export interface ChatSocketDeps {
  chat: ChatService;
  history: ChatHistoryService;
  websockets: WebSockets;
  /** The user behind an access token; rejects (401) for an invalid, expired or revoked one. */
  authenticate(token: string): Promise<Authenticated>;
  parseFrame(text: string): ClientFrame;
  allowAnonymous: boolean;
  shutdownSignal: AbortSignal;
  clock: Clock;
  log: FastifyBaseLogger;
}

/** Close codes (RFC 6455 §7.4.1) and reasons (at most 123 bytes). */
const CLOSE = {
  policy: 1008,
  serverError: 1011,
  tryAgainLater: 1013,
} as const;
const REFUSAL_REASON: Record<SlotRefusal, (perUser: number) => string> = {
  server_limit: () => 'Server connection limit reached',
  user_limit: (perUser) => `User connection limit (${perUser}) reached`,
};
/** Refused frames in a row, past the frame rate, before the socket is closed with 1008. */
const RATE_STRIKES_BEFORE_CLOSE = 10;
/** How long a peer has to answer our close before its socket is destroyed. */
const CLOSE_GRACE_MS = 1_000;
/** setTimeout's longest delay; a later token expiry re-arms the timer. */
const MAX_TIMER_MS = 2 ** 31 - 1;

type State = 'admitting' | 'awaiting_auth' | 'open' | 'closed';

interface Generation {
  controller: AbortController;
  done: Promise<void>;
  /** The socket was closed for being too slow: the answer is still generated and stored, just not sent. */
  detached: boolean;
}

/** The token of the upgrade request: `?token=` (it wins) or `Authorization: Bearer`, none, or why it is no token. */
type TokenSource = { token: string } | { none: true } | { invalid: string };

function tokenOf(request: FastifyRequest): TokenSource {
  const query = request.query as Record<string, unknown> | undefined;
  if (query !== undefined && Object.hasOwn(query, 'token')) {
    // Repeated (an array) or empty: no guess at which one was meant.
    return typeof query.token === 'string' && query.token !== ''
      ? { token: query.token }
      : { invalid: 'Invalid or expired token' };
  }
  const token = bearerToken(request);
  if (token === undefined) return { none: true };
  return token === null ? { invalid: 'Invalid authorization header' } : { token };
}

export class ChatSocket implements ManagedSocket {
  readonly id = randomUUID();
  owner: string | undefined;
  lastHeardMs = Date.now();
  lastFrameMs = Date.now();
  #state: State = 'admitting';
  #chatOwner: ChatOwner | undefined;
  #auth: Authenticated | null = null;
  /** The session a chat without session_id continues: a fresh id at first, then the last one chatted in. */
  #sessionId: string = randomUUID();
  #release: (() => void) | undefined;
  /** This socket's place among its address's sockets waiting for their `auth` frame. */
  #pendingRelease: (() => void) | undefined;
  #unsubscribe: (() => void) | undefined;
  #authTimer: NodeJS.Timeout | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #generation: Generation | undefined;
  /** Frames are answered one after another, in the order they came. */
  #queue: Promise<void> = Promise.resolve();
  #rate: FrameRate | undefined;
  #strikes = 0;
  /** Nothing more is sent (closed, or too slow). */
  #muted = false;

  constructor(
    readonly ws: WebSocket,
    private readonly request: FastifyRequest,
    private readonly deps: ChatSocketDeps,
  ) {
    const perMinute = deps.websockets.config.messagesPerMinute;
    if (perMinute > 0) this.#rate = new FrameRate(perMinute);
  }

  /** Takes the socket in: listeners first (frames may arrive while the token is checked), then admission. */
  start(): void {
    const { manager, config } = this.deps.websockets;
    if (manager.closing) return this.#reject('shutting_down', SHUTDOWN_CLOSE.code, SHUTDOWN_CLOSE.reason);
    // Sockets not yet admitted count too: a flood of upgrades that never authenticate is bounded here.
    if (manager.size >= config.maxConnections)
      return this.#reject('server_limit', CLOSE.policy, REFUSAL_REASON.server_limit(0));
    manager.add(this);
    this.ws.on('close', () => this.#closed());
    this.ws.on('pong', () => {
      this.lastHeardMs = Date.now();
    });
    this.ws.on('message', (data, isBinary) => this.#received(data, isBinary));
    this.#enqueue(() => this.#admitting(() => this.#admit()));
  }

  /** Admission that could not decide (the token could not be checked: the database is down) closes with 1011. */
  async #admitting(work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.deps.log.warn({ err: error }, 'websocket admission failed');
      this.#closeWith(CLOSE.serverError, 'Server unavailable: try again');
    }
  }

  sendFrame(frame: Record<string, unknown>): void {
    if (this.#muted || this.ws.readyState !== this.ws.OPEN) return;
    this.sendText(stringifyHtmlSafe(frame));
  }

  sendText(text: string): void {
    if (this.#muted || this.ws.readyState !== this.ws.OPEN) return;
    // A client that has not read what was sent before: stop before its backlog grows without bound, and tell it to
    // come back later. The backlog before this frame decides, so that one big frame (a long history) does not close
    // a client that reads.
    if (this.ws.bufferedAmount > this.deps.websockets.config.maxBufferedBytes) {
      if (this.#generation) this.#generation.detached = true;
      return this.#closeWith(CLOSE.tryAgainLater, 'Client too slow: reconnect and read the history');
    }
    this.ws.send(text);
    this.deps.websockets.metrics.message('out');
  }

  idle(): Promise<void> {
    return this.#generation?.done ?? Promise.resolve();
  }

  #enqueue(work: () => Promise<void> | void): void {
    this.#queue = this.#queue.then(work).catch((error: unknown) => {
      // A dependency that failed (the database is down) is a 503 frame; anything else is ours, and logged.
      const mapped = mapError(error);
      if (mapped.status === 500) this.deps.log.error({ err: error }, 'websocket frame handling failed');
      this.sendFrame(mappedErrorFrame(mapped));
    });
  }

  // --- admission ---

  async #admit(): Promise<void> {
    const source = tokenOf(this.request);
    if ('invalid' in source) return this.#reject('auth_invalid', CLOSE.policy, source.invalid);
    if ('token' in source) {
      const auth = await this.#authenticate(source.token);
      if (!auth) return this.#reject('auth_invalid', CLOSE.policy, 'Invalid or expired token');
      return this.#open(auth);
    }
    if (this.deps.allowAnonymous) return this.#open(null);
    const { manager, config } = this.deps.websockets;
    this.#pendingRelease = manager.holdPending(addressKey(this.request), config.maxConnectionsPerUser);
    if (!this.#pendingRelease)
      return this.#reject(
        'pending_limit',
        CLOSE.policy,
        'Too many unauthenticated sockets from this address',
      );
    this.#state = 'awaiting_auth';
    this.#authTimer = setTimeout(
      () => this.#reject('auth_timeout', CLOSE.policy, 'Authentication timeout'),
      this.deps.websockets.config.authTimeoutMs,
    );
  }

  async #authenticate(token: string): Promise<Authenticated | undefined> {
    try {
      return await this.deps.authenticate(token);
    } catch (error) {
      // A database that is down is no bad token: say so, as HTTP answers 503.
      if (mapError(error).status >= 500) throw error;
      return undefined;
    }
  }

  async #open(auth: Authenticated | null): Promise<void> {
    this.#pendingRelease?.();
    if (this.#state === 'closed') return;
    const owner = auth ? userOwner(auth.user.id) : chatOwner(this.request, true).owner;
    const key = auth ? owner.ownerKey : lookupKey(owner);
    const taken = await this.deps.websockets.slots.take(key);
    if (typeof taken === 'string') {
      const perUser = this.deps.websockets.config.maxConnectionsPerUser;
      return this.#reject(taken, CLOSE.policy, REFUSAL_REASON[taken](perUser));
    }
    // Closed while the slot was being taken.
    if (this.#isClosed()) return taken();
    this.#release = taken;
    this.owner = key;
    this.#state = 'open';
    this.deps.websockets.metrics.connections.inc();
    this.#become(owner, auth);
    this.sendFrame(connectionFrame(this.#sessionId, auth && auth.user));
  }

  /** Makes `owner` the socket's: its channel, and the token's expiry. */
  #become(owner: ChatOwner, auth: Authenticated | null): void {
    this.#unsubscribe?.();
    this.#chatOwner = owner;
    this.#auth = auth;
    this.#unsubscribe = this.deps.websockets.channels.subscribe(owner.ownerKey, (message) =>
      this.#relay(message),
    );
    this.#armExpiry();
  }

  #armExpiry(): void {
    clearTimeout(this.#expiryTimer);
    if (!this.#auth) return;
    const left = this.#auth.token.expiresAt.getTime() - this.deps.clock.now().getTime();
    this.#expiryTimer = setTimeout(
      () => (left > MAX_TIMER_MS ? this.#armExpiry() : this.#closeWith(CLOSE.policy, 'Token expired')),
      Math.max(0, Math.min(left, MAX_TIMER_MS)),
    );
    this.#expiryTimer.unref();
  }

  /** A method, not a field read: the state changes across awaits, which narrowing does not see. */
  #isClosed(): boolean {
    return this.#state === 'closed';
  }

  #reject(reason: RejectionReason, code: number, text: string): void {
    this.deps.websockets.metrics.rejected(reason);
    this.#closeWith(code, text);
  }

  #closeWith(code: number, reason: string): void {
    this.#muted = true;
    if (this.ws.readyState !== this.ws.OPEN && this.ws.readyState !== this.ws.CONNECTING) return;
    this.ws.close(code, reason);
    // A peer that does not answer the close would hold its slot (and what is buffered for it) for ws's own 30 s.
    setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  #closed(): void {
    const admitted = this.#state === 'open';
    this.#state = 'closed';
    this.#muted = true;
    clearTimeout(this.#authTimer);
    clearTimeout(this.#expiryTimer);
    this.#pendingRelease?.();
    // The client left mid-answer: cut the generation, as for SSE (what was produced is stored as partial).
    if (this.#generation && !this.#generation.detached) this.#generation.controller.abort();
    this.#release?.();
    this.#unsubscribe?.();
    // A generation that goes on without its socket (too slow a client) is still the manager's to wait for at shutdown.
    const { manager } = this.deps.websockets;
    if (this.#generation) void this.#generation.done.finally(() => manager.delete(this));
    else manager.delete(this);
    if (admitted) this.deps.websockets.metrics.connections.dec();
  }

  // --- frames ---

  #received(data: RawData, isBinary: boolean): void {
    const now = Date.now();
    this.lastHeardMs = now;
    this.lastFrameMs = now;
    this.deps.websockets.metrics.message('in');
    // Closed, or being closed by us: what the client still sends is not answered, nor run.
    if (this.#state === 'closed' || this.#muted) return;
    // Refusals wait their turn behind the answers to earlier frames: a burst read at once is answered in order.
    if (this.#rate && !this.#rate.take(now)) {
      this.#strikes++;
      if (this.#strikes === RATE_STRIKES_BEFORE_CLOSE + 1)
        this.#enqueue(() => this.#closeWith(CLOSE.policy, 'Rate limit exceeded'));
      if (this.#strikes > RATE_STRIKES_BEFORE_CLOSE) return;
      const perMinute = this.deps.websockets.config.messagesPerMinute;
      const refusal = errorFrame(`Too many frames: at most ${perMinute} per minute`, 'rate_limited', {
        retry_after_ms: this.#rate.waitMs(now),
      });
      return this.#enqueue(() => this.sendFrame(refusal));
    }
    this.#strikes = 0;
    if (isBinary) {
      const refusal = errorFrame('Frames must be JSON text, not binary', 'invalid_frame');
      return this.#enqueue(() => this.sendFrame(refusal));
    }
    const text = Array.isArray(data)
      ? Buffer.concat(data).toString('utf8')
      : Buffer.from(data as ArrayBuffer).toString('utf8');
    const frame = this.deps.parseFrame(text);
    this.#enqueue(() => this.#handle(frame));
  }

  async #handle(frame: ClientFrame): Promise<void> {
    if (this.#state === 'closed' || this.#muted) return;
    if (this.#state === 'awaiting_auth') {
      if (frame.type !== 'auth')
        return this.#reject('auth_required', CLOSE.policy, 'Authentication required');
      clearTimeout(this.#authTimer);
      const { token } = frame.body;
      return this.#admitting(async () => {
        const auth = await this.#authenticate(token);
        if (!auth) return this.#reject('auth_invalid', CLOSE.policy, 'Invalid or expired token');
        return this.#open(auth);
      });
    }
    switch (frame.type) {
      case 'invalid':
        return this.sendFrame(frame.error);
      case 'ping':
        return this.sendFrame({ type: 'pong', timestamp: new Date().toISOString() });
      case 'pong':
        return;
      case 'chat':
        return this.#chat(frame.body);
      case 'get_history':
        return this.#sendHistory(frame.body);
      case 'clear_history':
        return this.#clearHistory(frame.body);
      case 'auth':
        return this.#reauthenticate(frame.body.token);
    }
  }

  /** A fresh token for the same user (the socket then lives to its expiry), or the sign-in of an anonymous socket. */
  async #reauthenticate(token: string): Promise<void> {
    const auth = await this.#authenticate(token);
    if (!auth) return this.sendFrame(errorFrame('Invalid or expired token', 'invalid_token'));
    if (this.#auth) {
      if (auth.user.id !== this.#auth.user.id)
        return this.sendFrame(errorFrame('The token belongs to another user', 'token_user_mismatch'));
      this.#auth = auth;
      this.#armExpiry();
    } else {
      if (this.#generation) return this.sendFrame(errorFrame('An answer is still being generated', 'busy'));
      const owner = userOwner(auth.user.id);
      const taken = await this.deps.websockets.slots.take(owner.ownerKey);
      if (typeof taken === 'string') {
        const perUser = this.deps.websockets.config.maxConnectionsPerUser;
        return this.#reject(taken, CLOSE.policy, REFUSAL_REASON[taken](perUser));
      }
      if (this.#isClosed()) return taken();
      this.#release?.();
      this.#release = taken;
      this.owner = owner.ownerKey;
      // The anonymous sessions stay the anonymous owner's: the user starts a session of their own.
      this.#sessionId = randomUUID();
      this.#become(owner, auth);
    }
    this.sendFrame({
      type: 'authenticated',
      user: { id: auth.user.id, username: auth.user.username },
      session_id: this.#sessionId,
      expires_at: auth.token.expiresAt.toISOString(),
    });
  }

  #relay(message: string): void {
    let parsed: ChannelMessage;
    try {
      parsed = JSON.parse(message) as ChannelMessage;
    } catch {
      return;
    }
    // This socket's own turn: it has these frames already.
    if (parsed.origin !== this.id) this.sendFrame(parsed.frame);
  }

  #chat(body: ChatFrame): void {
    if (this.deps.websockets.manager.closing)
      return this.sendFrame(errorFrame('The server is shutting down; try again', 'server_shutting_down'));
    if (this.#generation)
      return this.sendFrame(errorFrame('An answer is still being generated on this socket', 'busy'));
    const owner = this.#chatOwner;
    if (!owner) return;
    const controller = new AbortController();
    const signal = AbortSignal.any([controller.signal, this.deps.shutdownSignal]);
    const sessionId = body.session_id ?? this.#sessionId;
    this.#sessionId = sessionId;
    const turn = this.deps.chat.converse(
      { owner, limitKey: this.owner ?? owner.ownerKey, requestId: `${this.request.id}:${this.id}` },
      {
        message: body.message,
        sessionId,
        model: body.model ?? null,
        temperature: body.temperature ?? null,
        maxTokens: body.max_tokens ?? null,
        ...(body.agent === undefined ? {} : { agent: body.agent }),
        files: body.files ?? null,
        useFiles: body.use_files ?? null,
      },
      signal,
    );
    const events = broadcastTurn(turn, this.deps.websockets.channels, this.id);
    const generation: Generation = { controller, done: Promise.resolve(), detached: false };
    this.#generation = generation;
    generation.done = this.#stream(events, body.stream ?? true).finally(() => {
      this.#generation = undefined;
    });
  }

  async #stream(events: AsyncGenerator<ChatEvent>, stream: boolean): Promise<void> {
    let sessionId: string | undefined;
    try {
      for await (const event of events) {
        if (event.type === 'start') {
          sessionId = event.sessionId;
          this.#sessionId = event.sessionId;
          this.sendFrame(messageReceivedFrame(event, this.deps.clock.now()));
          if (stream) this.sendFrame(streamStartFrame(event));
        } else if (event.type === 'token') {
          if (stream) this.sendFrame(streamChunkFrame(sessionId ?? '', event.text));
        } else {
          this.sendFrame(stream ? streamEndFrame(event) : responseFrame(event));
        }
      }
    } catch (error) {
      if (this.#state === 'closed') return;
      const mapped = mapError(error);
      const expected =
        mapped.code.startsWith('llm_') || ['model_not_found', 'server_shutting_down'].includes(mapped.code);
      if (mapped.status >= 500 && !expected) this.deps.log.error({ err: error }, 'websocket chat failed');
      this.sendFrame(mappedErrorFrame(mapped, sessionId === undefined ? {} : { session_id: sessionId }));
    }
  }

  async #sendHistory(body: HistoryFrame): Promise<void> {
    const owner = this.#chatOwner;
    if (!owner) return;
    const sessionId = body.session_id ?? this.#sessionId;
    const skip = body.skip ?? 0;
    const limit = body.limit ?? HISTORY_LIMIT;
    try {
      const page = await this.deps.history.messages(owner, sessionId, { skip, limit });
      this.sendFrame(historyFrame(sessionId, page.messages, { total: page.total, skip, limit }));
    } catch (error) {
      // The socket's own session before its first chat: it has no messages yet.
      if (error instanceof NotFoundError && body.session_id == null)
        return this.sendFrame(historyFrame(sessionId, [], { total: 0, skip, limit }));
      this.#failed(error, sessionId);
    }
  }

  async #clearHistory(body: ClearFrame): Promise<void> {
    const owner = this.#chatOwner;
    if (!owner) return;
    const sessionId = body.session_id ?? this.#sessionId;
    let deleted = 0;
    try {
      deleted = await this.deps.history.delete(owner, sessionId);
    } catch (error) {
      if (!(error instanceof NotFoundError && body.session_id == null)) return this.#failed(error, sessionId);
    }
    this.sendFrame({ type: 'history_cleared', session_id: sessionId, messages_deleted: deleted });
  }

  #failed(error: unknown, sessionId: string): void {
    const mapped = mapError(error);
    if (mapped.status >= 500) this.deps.log.error({ err: error }, 'websocket frame failed');
    this.sendFrame(mappedErrorFrame(mapped, { session_id: sessionId }));
  }
}
