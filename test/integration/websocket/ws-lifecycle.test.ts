// The chat WebSocket's connection manager, on a real listening server with real `ws` clients: the connection limits
// (per user, per server, anonymous clients by address), the heartbeat (a dead peer terminated and its slot freed, a
// live one kept and pinged), the frame size and frame rate limits, a slow consumer closed with 1013 while its answer
// is still generated and stored whole, /api/v1/ws/info and the stats, the websocket_* metrics, and a plain GET
// answered 426. The graceful shutdown of sockets is in ws-shutdown.test.ts. Every wait is bounded: the settings are
// short, and the tests wait for events (frames, closes, counters), never for a time.
import type { Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import type { App } from '../../../src/app.js';
import { bearer, registerAndLogin, superuserToken } from '../../helpers/auth.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { closeAllSockets, connectChat, connectWs, type TestSocket } from '../../helpers/ws-client.js';
import { waitUntil, type SessionPage } from '../chat/chat.helpers.js';

const WS_PATH = '/api/v1/chat/ws';

/** An app on a fresh SQLite database, listening on 127.0.0.1; `url` is its ws:// base. */
async function serve(env: Record<string, string>): Promise<{ t: TestApp; url: string }> {
  const t = await buildTestApp({ dialect: 'sqlite', env });
  const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
  return { t, url: address.replace(/^http/, 'ws') };
}

/** One series of GET /metrics, e.g. `websocket_rejections_total{reason="user_limit"}`; 0 when not exported yet. */
async function metric(app: App, series: string): Promise<number> {
  const text = (await app.inject({ url: '/metrics' })).body;
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/** A signed-in user and the socket options that carry its token. */
async function signedIn(app: App) {
  const { user, tokens } = await registerAndLogin(app);
  return { id: user.id, token: tokens.access_token, options: { headers: bearer(tokens.access_token) } };
}

/** Terminates the suite's sockets and waits until the server has seen every one of them close. */
async function closeAll(app: App): Promise<void> {
  closeAllSockets();
  await waitUntil(() => app.websockets.manager.size === 0, 'the server saw every socket close');
}

/** The types of the frames after the `connection` frame. */
const typesAfterConnection = (socket: TestSocket) => socket.frames.slice(1).map((frame) => frame.type);

describe('connection limits', () => {
  let t: TestApp;
  let url: string;
  beforeAll(async () => {
    ({ t, url } = await serve({ WS_MAX_CONNECTIONS_PER_USER: '5' }));
  });
  afterEach(() => closeAll(t.app));
  afterAll(() => t?.close());

  it('refuses a sixth socket of a user with 1008, counts it, admits another user, and admits again once one closes', async () => {
    const alice = await signedIn(t.app);
    // Both paths share the limit.
    const five: TestSocket[] = [];
    for (const path of [WS_PATH, '/ws', WS_PATH, '/ws', WS_PATH])
      five.push(await connectChat(`${url}${path}`, alice.options));
    const refusedBefore = await metric(t.app, 'websocket_rejections_total{reason="user_limit"}');

    const sixth = await connectWs(`${url}/ws`, alice.options);
    expect(await sixth.waitClosed()).toEqual({ code: 1008, reason: 'User connection limit (5) reached' });
    expect(sixth.frames).toEqual([]);
    expect(await metric(t.app, 'websocket_rejections_total{reason="user_limit"}')).toBe(refusedBefore + 1);

    const bob = await signedIn(t.app);
    const bobs = await connectChat(`${url}${WS_PATH}`, bob.options);
    expect(bobs.frames[0]).toMatchObject({ type: 'connection', user: { id: bob.id }, anonymous: false });

    // The slot is given back on the server's close event: wait for it (the gauge drops in the same handler).
    five[0]?.close();
    await five[0]?.waitClosed();
    await waitUntil(
      async () => (await metric(t.app, 'websocket_connections')) === 5,
      'the slot was released',
    );
    const again = await connectChat(`${url}${WS_PATH}`, alice.options);
    expect(again.frames[0]).toMatchObject({ type: 'connection', user: { id: alice.id } });
    expect(await metric(t.app, 'websocket_rejections_total{reason="user_limit"}')).toBe(refusedBefore + 1);
  });
});

describe('server limit and anonymous owners', () => {
  let t: TestApp;
  let url: string;
  beforeAll(async () => {
    ({ t, url } = await serve({
      WS_MAX_CONNECTIONS: '3',
      WS_MAX_CONNECTIONS_PER_USER: '2',
      ALLOW_ANONYMOUS_CHAT: 'true',
    }));
  });
  afterEach(() => closeAll(t.app));
  afterAll(() => t?.close());

  it('refuses the socket past WS_MAX_CONNECTIONS with 1008 "Server connection limit reached"', async () => {
    const alice = await signedIn(t.app);
    const bob = await signedIn(t.app);
    const carol = await signedIn(t.app);
    await connectChat(`${url}${WS_PATH}`, alice.options);
    await connectChat(`${url}${WS_PATH}`, alice.options);
    await connectChat(`${url}${WS_PATH}`, bob.options);
    const refusedBefore = await metric(t.app, 'websocket_rejections_total{reason="server_limit"}');

    const fourth = await connectWs(`${url}${WS_PATH}`, carol.options);
    expect(await fourth.waitClosed()).toEqual({ code: 1008, reason: 'Server connection limit reached' });
    expect(fourth.frames).toEqual([]);
    expect(await metric(t.app, 'websocket_rejections_total{reason="server_limit"}')).toBe(refusedBefore + 1);
  });

  it('counts anonymous sockets from one address as one owner under the per-user limit', async () => {
    const first = await connectChat(`${url}${WS_PATH}`);
    await connectChat(`${url}/ws`);
    expect(first.frames[0]).toMatchObject({ type: 'connection', anonymous: true, user: null });

    const third = await connectWs(`${url}${WS_PATH}`);
    expect(await third.waitClosed()).toEqual({ code: 1008, reason: 'User connection limit (2) reached' });
    expect(third.frames).toEqual([]);
    expect(t.app.websockets.manager.owners()).toEqual(new Map([['ip:127.0.0.1', 2]]));
    // A signed-in user is not that owner.
    const alice = await signedIn(t.app);
    await connectChat(`${url}${WS_PATH}`, alice.options);
  });
});

describe('heartbeat', () => {
  let t: TestApp;
  let url: string;
  beforeAll(async () => {
    ({ t, url } = await serve({
      WS_HEARTBEAT_INTERVAL_MS: '100',
      WS_HEARTBEAT_TIMEOUT_MS: '300',
      WS_MAX_CONNECTIONS_PER_USER: '1',
    }));
  });
  afterEach(() => closeAll(t.app));
  afterAll(() => t?.close());

  it('terminates a peer that never answers the protocol pings, counts it and frees its slot', async () => {
    const admin = await superuserToken(t.app);
    const alice = await signedIn(t.app);
    const terminatedBefore = await metric(t.app, 'websocket_heartbeat_terminations_total');
    const dead = await connectChat(`${url}${WS_PATH}`, { ...alice.options, autoPong: false });
    let pings = 0;
    dead.ws.on('ping', () => pings++);

    // Terminated, not closed: no close frame, so the client sees 1006.
    expect(await dead.waitClosed()).toEqual({ code: 1006, reason: '' });
    expect(pings).toBeGreaterThan(0);
    expect(await metric(t.app, 'websocket_heartbeat_terminations_total')).toBe(terminatedBefore + 1);

    const stats = async () =>
      (await t.app.inject({ url: '/api/v1/chat/ws/stats', headers: bearer(admin) })).json<{
        total_connections: number;
        user_distribution: Record<string, number>;
      }>();
    await waitUntil(async () => (await stats()).total_connections === 0, 'the stats show the slot freed');
    expect((await stats()).user_distribution).toEqual({});
    // At one socket per user, the user is admitted again.
    await connectChat(`${url}${WS_PATH}`, alice.options);
  });

  it('keeps a silent client that answers the protocol pings, and sends it JSON pings in epoch seconds', async () => {
    const alice = await signedIn(t.app);
    const terminatedBefore = await metric(t.app, 'websocket_heartbeat_terminations_total');
    const since = Date.now() / 1000;
    const live = await connectChat(`${url}${WS_PATH}`, alice.options);
    let pings = 0;
    live.ws.on('ping', () => pings++);

    // Eight JSON pings take eight intervals (800 ms), well past the 300 ms timeout.
    await waitUntil(() => live.ofType('ping').length >= 8, 'eight JSON pings arrived');
    expect(live.ws.readyState).toBe(live.ws.OPEN);
    // Each beat sends its protocol ping before its JSON ping, on the same stream.
    expect(pings).toBeGreaterThanOrEqual(8);
    for (const ping of live.ofType('ping')) {
      expect(Object.keys(ping).sort()).toEqual(['timestamp', 'type']);
      expect(ping.timestamp).toEqual(expect.any(Number));
      expect(ping.timestamp).toBeGreaterThanOrEqual(Math.floor(since));
      expect(ping.timestamp).toBeLessThanOrEqual(Date.now() / 1000 + 1);
    }
    expect(await metric(t.app, 'websocket_heartbeat_terminations_total')).toBe(terminatedBefore);
  });
});

describe('frame size and frame rate', () => {
  let t: TestApp;
  let url: string;
  let alice: Awaited<ReturnType<typeof signedIn>>;
  beforeAll(async () => {
    ({ t, url } = await serve({
      WS_MAX_MESSAGE_BYTES: '1024',
      WS_MESSAGES_PER_MINUTE: '5',
      WS_MAX_CONNECTIONS_PER_USER: '10',
    }));
    alice = await signedIn(t.app);
  });
  afterEach(() => closeAll(t.app));
  afterAll(() => t?.close());

  /** A ping frame of exactly `bytes` bytes. */
  const pingOf = (bytes: number) => {
    const empty = JSON.stringify({ type: 'ping', pad: '' });
    return JSON.stringify({ type: 'ping', pad: 'x'.repeat(bytes - empty.length) });
  };

  it('answers frames up to WS_MAX_MESSAGE_BYTES and closes with 1009 on a bigger one', async () => {
    const socket = await connectChat(`${url}${WS_PATH}`, alice.options);
    socket.sendText(pingOf(1000));
    await socket.next('pong');
    socket.sendText(pingOf(1024));
    await socket.next('pong', { from: 2 });
    socket.sendText(pingOf(1025));
    expect((await socket.waitClosed()).code).toBe(1009);

    const other = await connectChat(`${url}${WS_PATH}`, alice.options);
    other.sendText(pingOf(2000));
    expect((await other.waitClosed()).code).toBe(1009);
    expect(typesAfterConnection(other)).toEqual([]);
  });

  it('refuses frames past WS_MESSAGES_PER_MINUTE with rate_limited, then closes with 1008 after ten more', async () => {
    const socket = await connectChat(`${url}${WS_PATH}`, alice.options);
    for (let i = 0; i < 6; i++) socket.send({ type: 'ping' });
    const refused = await socket.next('error');
    await waitUntil(() => socket.ofType('pong').length === 5, 'five pongs arrived');
    expect(refused).toMatchObject({ type: 'error', code: 'rate_limited' });
    // Five a minute: the next token is at most 12 s away.
    expect(refused.retry_after_ms).toEqual(expect.any(Number));
    expect(refused.retry_after_ms).toBeGreaterThan(0);
    expect(refused.retry_after_ms).toBeLessThanOrEqual(12_000);

    // Ten refused frames in a row are answered; the eleventh closes the socket.
    for (let i = 0; i < 10; i++) socket.send({ type: 'ping' });
    expect(await socket.waitClosed()).toEqual({ code: 1008, reason: 'Rate limit exceeded' });
    expect(socket.ofType('pong')).toHaveLength(5);
    expect(socket.ofType('error')).toHaveLength(10);
    expect(socket.ofType('error').every((frame) => frame.code === 'rate_limited')).toBe(true);
  });

  it('answers a burst in the order of its frames: a refusal comes after the answers to the frames before it', async () => {
    /** Sends the frames in one TCP write (the server reads them at once) and returns the types of the answers. */
    const answersToBurst = async (frames: (string | Buffer)[]) => {
      const socket = await connectChat(`${url}${WS_PATH}`, alice.options);
      const raw = (socket.ws as unknown as { _socket: Socket })._socket;
      raw.cork();
      for (const frame of frames) socket.ws.send(frame);
      raw.uncork();
      await waitUntil(() => socket.frames.length === frames.length + 1, 'every frame was answered');
      return typesAfterConnection(socket).map((type, i) => `${type}:${String(socket.frames[i + 1]?.code)}`);
    };
    const ping = JSON.stringify({ type: 'ping' });
    expect({
      pastTheRate: await answersToBurst(Array.from({ length: 6 }, () => ping)),
      binary: await answersToBurst([ping, Buffer.from(ping)]),
    }).toEqual({
      pastTheRate: [...Array.from({ length: 5 }, () => 'pong:undefined'), 'error:rate_limited'],
      binary: ['pong:undefined', 'error:invalid_frame'],
    });
  });
});

describe('the backlog limit (WS_MAX_BUFFERED_BYTES)', () => {
  let llm: LlmStandIn;
  let t: TestApp;
  let url: string;
  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest'] });
    ({ t, url } = await serve({
      OLLAMA_URL: llm.url,
      LLM_RETRY_BASE_MS: '1',
      WS_MAX_BUFFERED_BYTES: '1024',
    }));
  });
  afterEach(async () => {
    await closeAll(t.app);
    llm.assertNoUnexpected();
  });
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  it('is closed with 1013 once its backlog passes WS_MAX_BUFFERED_BYTES, and the answer is still stored whole', async () => {
    // 25 MiB: more than the kernel's socket buffers on both sides hold, so that the server's own backlog grows.
    const tokens = Array.from({ length: 400 }, (_, i) => `${i} `.padEnd(64 * 1024, 'x'));
    llm.reply({ tokens });
    const alice = await signedIn(t.app);
    const socket = await connectChat(`${url}${WS_PATH}`, alice.options);
    const raw = (socket.ws as unknown as { _socket: Socket })._socket;
    raw.pause();
    socket.send({ type: 'chat', message: 'Say a lot', session_id: 'slow-consumer' });

    // The server gives a peer 1 s to read its close before destroying the socket: the client reads again as soon as
    // the server has begun closing, so that it gets the 1013 rather than a destroyed connection.
    const server = t.app.websocketServer;
    await waitUntil(
      () => [...server.clients].some((client) => client.readyState === client.CLOSING),
      'the server began closing the slow socket',
      30_000,
    );
    raw.resume();
    expect(await socket.waitClosed(10_000)).toEqual({
      code: 1013,
      reason: 'Client too slow: reconnect and read the history',
    });

    // The generation goes on without the socket: wait until it is stored.
    let page: SessionPage | undefined;
    await waitUntil(
      async () => {
        const response = await t.app.inject({
          url: '/api/v1/chat/sessions/slow-consumer',
          headers: bearer(alice.token),
        });
        page = response.statusCode === 200 ? response.json<SessionPage>() : undefined;
        return page?.messages[1]?.status === 'complete';
      },
      'the whole answer was stored',
      30_000,
    );
    expect(page?.messages[1]?.content === tokens.join('')).toBe(true);
    // The server stopped sending: the client got a part of the answer, and no stream_end.
    expect(socket.ofType('stream_chunk').length).toBeLessThan(tokens.length);
    expect(socket.ofType('stream_end')).toEqual([]);
  });

  it('lets a client that reads get one frame far over the limit (a long history) without being closed', async () => {
    const tokens = Array.from({ length: 40 }, (_, i) => `${i} `.padEnd(64 * 1024, '<'));
    llm.reply({ tokens });
    const alice = await signedIn(t.app);
    const answer = await t.app.inject({
      method: 'POST',
      url: '/api/v1/chat/',
      headers: bearer(alice.token),
      payload: { message: 'Say a lot', session_id: 'long-history' },
    });
    expect(answer.statusCode, answer.body).toBe(200);
    const socket = await connectChat(`${url}${WS_PATH}`, alice.options);
    for (let round = 0; round < 3; round++) {
      socket.send({ type: 'get_history', session_id: 'long-history' });
      const history = await socket.next('history', { from: socket.frames.length, timeoutMs: 15_000 });
      expect((history.messages as { content: string }[])[1]?.content === tokens.join('')).toBe(true);
    }
    socket.send({ type: 'ping' });
    await socket.next('pong');
    expect(socket.ws.readyState).toBe(socket.ws.OPEN);
  });
});

describe('sockets waiting for their auth frame, and upgrades under the general rate limit', () => {
  let pending: TestApp;
  let pendingUrl: string;
  let limited: TestApp;
  let limitedUrl: string;
  beforeAll(async () => {
    ({ t: pending, url: pendingUrl } = await serve({
      ALLOW_ANONYMOUS_CHAT: 'false',
      WS_MAX_CONNECTIONS_PER_USER: '2',
    }));
    ({ t: limited, url: limitedUrl } = await serve({ RATE_LIMIT_PER_MINUTE: '3', RATE_LIMIT_BURST: '0' }));
  });
  afterEach(async () => {
    await closeAll(pending.app);
    await closeAll(limited.app);
  });
  afterAll(async () => {
    await pending?.close();
    await limited?.close();
  });

  it('holds at most WS_MAX_CONNECTIONS_PER_USER sockets of one address waiting for auth; one that signs in frees its place', async () => {
    const alice = await signedIn(pending.app);
    const first = await connectWs(`${pendingUrl}/ws`);
    await connectWs(`${pendingUrl}/ws`);
    const third = await connectWs(`${pendingUrl}/ws`);
    expect(await third.waitClosed()).toEqual({
      code: 1008,
      reason: 'Too many unauthenticated sockets from this address',
    });
    expect(await metric(pending.app, 'websocket_rejections_total{reason="pending_limit"}')).toBe(1);
    first.send({ type: 'auth', token: alice.token });
    await first.next('connection');
    const fourth = await connectWs(`${pendingUrl}/ws`);
    fourth.send({ type: 'auth', token: alice.token });
    await fourth.next('connection');
  });

  it('counts upgrades of /ws and /api/v1/chat/ws against the general rate limit of the address', async () => {
    await connectChat(`${limitedUrl}/ws`);
    await connectChat(`${limitedUrl}${WS_PATH}`);
    await connectChat(`${limitedUrl}/ws`);
    await expect(connectWs(`${limitedUrl}/ws`)).rejects.toThrow('upgrade answered 429');
    await expect(connectWs(`${limitedUrl}${WS_PATH}`)).rejects.toThrow('upgrade answered 429');
  });

  it('refuses a repeated or empty token parameter with 1008 instead of guessing', async () => {
    const alice = await signedIn(pending.app);
    for (const query of [`token=${alice.token}&token=${alice.token}`, 'token=', 'token=a&token=b']) {
      const socket = await connectWs(`${pendingUrl}${WS_PATH}?${query}`);
      expect(await socket.waitClosed(), query).toEqual({ code: 1008, reason: 'Invalid or expired token' });
    }
  });
});

describe('info, stats and metrics', () => {
  let t: TestApp;
  let url: string;
  let admin: string;
  beforeAll(async () => {
    ({ t, url } = await serve({
      WS_MAX_CONNECTIONS: '40',
      WS_MAX_CONNECTIONS_PER_USER: '3',
      WS_HEARTBEAT_INTERVAL_MS: '20000',
      WS_HEARTBEAT_TIMEOUT_MS: '45000',
      WS_MAX_MESSAGE_BYTES: '4096',
      WS_MESSAGES_PER_MINUTE: '90',
      WS_MAX_BUFFERED_BYTES: '65536',
      WS_AUTH_TIMEOUT_MS: '8000',
      ALLOW_ANONYMOUS_CHAT: 'false',
    }));
    admin = await superuserToken(t.app);
  });
  afterEach(() => closeAll(t.app));
  afterAll(() => t?.close());

  it('describes the socket at /api/v1/ws/info from the settings, without a token', async () => {
    const response = await t.app.inject({ url: '/api/v1/ws/info' });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({
      protocol_version: '1.0',
      endpoints: ['/api/v1/chat/ws', '/ws'],
      authentication: ['query:token', 'header:authorization', 'frame:auth'],
      anonymous_allowed: false,
      limits: {
        max_connections_per_user: 3,
        max_total_connections: 40,
        max_message_bytes: 4096,
        messages_per_minute: 90,
        max_buffered_bytes: 65536,
        auth_timeout_ms: 8000,
      },
      heartbeat: { interval_ms: 20000, timeout_ms: 45000 },
      client_frames: ['auth', 'chat', 'ping', 'pong', 'get_history', 'clear_history'],
      server_frames: [
        'connection',
        'authenticated',
        'pong',
        'ping',
        'message_received',
        'stream_start',
        'stream_chunk',
        'stream_end',
        'response',
        'history',
        'history_cleared',
        'error',
      ],
    });
  });

  it('gives a superuser the open sockets per user; 401 without a token, 403 for a user', async () => {
    const alice = await signedIn(t.app);
    const bob = await signedIn(t.app);
    await connectChat(`${url}${WS_PATH}`, alice.options);
    await connectChat(`${url}/ws`, alice.options);
    await connectChat(`${url}${WS_PATH}`, bob.options);
    // Anonymous chat is off: a socket without a token waits for its `auth` frame, open but not admitted.
    await connectWs(`${url}${WS_PATH}`);

    const response = await t.app.inject({ url: '/api/v1/chat/ws/stats', headers: bearer(admin) });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({
      total_connections: 3,
      total_users: 2,
      max_connections_per_user: 3,
      max_total_connections: 40,
      heartbeat_interval: 20,
      heartbeat_timeout: 45,
      user_distribution: { [`user:${alice.id}`]: 2, [`user:${bob.id}`]: 1 },
      scope: 'instance',
      instance_connections: 4,
    });

    const anonymous = await t.app.inject({ url: '/api/v1/chat/ws/stats' });
    expect(anonymous.statusCode).toBe(401);
    const user = await t.app.inject({ url: '/api/v1/chat/ws/stats', headers: bearer(alice.token) });
    expect(user.statusCode).toBe(403);
  });

  it('keeps websocket_connections at the open count and counts frames in and out', async () => {
    const alice = await signedIn(t.app);
    const first = await connectChat(`${url}${WS_PATH}`, alice.options);
    const second = await connectChat(`${url}/ws`, alice.options);
    expect(await metric(t.app, 'websocket_connections')).toBe(2);

    const inBefore = await metric(t.app, 'websocket_messages_total{direction="in"}');
    const outBefore = await metric(t.app, 'websocket_messages_total{direction="out"}');
    second.send({ type: 'ping' });
    await second.next('pong');
    expect(await metric(t.app, 'websocket_messages_total{direction="in"}')).toBe(inBefore + 1);
    expect(await metric(t.app, 'websocket_messages_total{direction="out"}')).toBe(outBefore + 1);

    first.close();
    await first.waitClosed();
    await waitUntil(
      async () => (await metric(t.app, 'websocket_connections')) === 1,
      'the gauge dropped to 1',
    );
  });

  it('counts an upgraded socket as no request in progress, and its close as no 499', async () => {
    const wsRouteLines = async () =>
      (await t.app.inject({ url: '/metrics' })).body
        .split('\n')
        .filter((line) => /^http_requests_total\{[^}]*route="(\/api\/v1\/chat\/ws|\/ws)"/.test(line));
    const before = await wsRouteLines();
    const alice = await signedIn(t.app);
    const polite = await connectChat(`${url}${WS_PATH}`, alice.options);
    const abrupt = await connectChat(`${url}/ws`, alice.options);
    // An upgrade without a token: still waiting for its `auth` frame.
    const waiting = await connectWs(`${url}${WS_PATH}`);
    expect(await metric(t.app, 'http_requests_in_progress{method="GET"}')).toBe(0);

    polite.close();
    await polite.waitClosed();
    abrupt.ws.terminate();
    waiting.ws.terminate();
    await waitUntil(() => t.app.websockets.manager.size === 0, 'the server saw the sockets close');
    // No 499, nor any other status: the upgraded requests were never answered over HTTP.
    expect(await wsRouteLines()).toEqual(before);
    expect(await metric(t.app, 'http_requests_in_progress{method="GET"}')).toBe(0);
  });

  it('answers a plain GET of either path 426 upgrade_required', async () => {
    for (const path of [WS_PATH, '/ws']) {
      const response = await fetch(`${url.replace(/^ws/, 'http')}${path}`);
      expect(response.status).toBe(426);
      expect(response.headers.get('upgrade')).toBe('websocket');
      expect(await response.json()).toMatchObject({
        detail: expect.stringContaining('WebSocket') as unknown,
        code: 'upgrade_required',
      });
    }
  });
});
