// The chat WebSocket on several instances sharing one real Redis (and one PostgreSQL database): the connection
// limits count every instance's sockets, a chat turn reaches the owner's sockets on every instance (and nobody
// else's), the slots of an instance killed without cleanup are freed within one lease, and a Redis that goes away
// (or restarts empty) neither refuses sockets nor loses the counts once it answers again. Each suite has its own
// REDIS_KEY_PREFIX, so runs never meet on the shared Redis.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { TEST_JWT_SECRET } from '../../helpers/app.js';
import { bearer, registerAndLogin, superuserToken } from '../../helpers/auth.js';
import { describePostgres, describeWithRedis } from '../../helpers/dialects.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { OwnRedis, describeWithOwnRedis, redisReady } from '../../helpers/redis-server.js';
import { TEST_REDIS_URL } from '../../helpers/services.js';
import { killSpawned, listeningPort, spawnSlowServer } from '../../helpers/spawn.js';
import { closeAllSockets, type Frame, type TestSocket } from '../../helpers/ws-client.js';
import type { MessageItem } from '../chat/chat.helpers.js';
import {
  SERVER_LIMIT,
  admit,
  attempt,
  drained,
  figures,
  poll,
  refusal,
  instancesSharing,
  untimed,
  userLimit,
  wsStats,
  type Instance,
} from './ws-cluster.helpers.js';

const testPrefix = () => `wstest:${randomUUID()}:`;
const types = (frames: Frame[]) => frames.map((frame) => frame.type);

describePostgres('chat WebSocket across instances', () => {
  describeWithRedis('limits and fan-out on two instances', () => {
    const prefix = testPrefix();
    let llm: LlmStandIn;
    beforeAll(async () => {
      llm = await startLlmStandIn({ models: ['tinyllama:latest'] });
    });
    afterAll(() => llm?.close());
    const instances = instancesSharing(2, () => ({
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      WS_MAX_CONNECTIONS_PER_USER: '3',
      OLLAMA_URL: llm.url,
      LLM_RETRY_BASE_MS: '1',
    }));
    afterEach(async () => {
      closeAllSockets();
      await drained(instances[0] as Instance);
      llm.assertNoUnexpected();
    });
    const pair = () => instances as [Instance, Instance];

    it("counts one user's sockets on both instances against one per-user limit", async () => {
      const [a, b] = pair();
      const token = (await registerAndLogin(a.app)).tokens.access_token;
      const onA = [await admit(a, token), await admit(a, token)];
      await admit(b, token, '/ws');
      expect(await refusal(b, token)).toEqual(userLimit(3));
      expect(await refusal(a, token)).toEqual(userLimit(3));

      onA[0]?.close();
      await onA[0]?.waitClosed();
      // The release is on its way to Redis: B admits the user again once it has landed.
      await poll(
        'a socket on B after one on A closed',
        () => attempt(b, token),
        (result) => 'admitted' in result,
      );
      expect(await refusal(a, token)).toEqual(userLimit(3));
    });

    it('admits exactly the per-user limit of sockets opened at once on both instances', async () => {
      const [a, b] = pair();
      const token = (await registerAndLogin(a.app)).tokens.access_token;
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => attempt(i % 2 ? b : a, token)));
      expect(results.filter((result) => 'admitted' in result)).toHaveLength(3);
      const refusals = results.flatMap((result) => ('refused' in result ? [result.refused] : []));
      expect(refusals).toEqual(Array.from({ length: 5 }, () => userLimit(3)));
    });

    it('shows a superuser the sockets of both instances, whichever instance is asked', async () => {
      const [a, b] = pair();
      const admin = await superuserToken(a.app);
      const u = await registerAndLogin(a.app);
      const v = await registerAndLogin(a.app);
      await admit(a, u.tokens.access_token);
      await admit(a, u.tokens.access_token);
      await admit(b, u.tokens.access_token);
      await admit(b, v.tokens.access_token);
      const distribution = { [`user:${u.user.id}`]: 3, [`user:${v.user.id}`]: 1 };
      for (const instance of [a, b]) {
        expect(figures(await wsStats(instance.app, admin))).toEqual({
          total_connections: 4,
          total_users: 2,
          user_distribution: distribution,
          scope: 'cluster',
          instance_connections: 2,
        });
      }
    });

    it("relays an HTTP chat on A to the user's socket on B, and to no other user's", async () => {
      const [a, b] = pair();
      const u = await registerAndLogin(a.app);
      const v = await registerAndLogin(a.app);
      const uOnB = await admit(b, u.tokens.access_token);
      const vOnB = await admit(b, v.tokens.access_token);
      llm.reply({ tokens: ['Hello', ' <there>', ' & you'] });
      const message = '  Hi <b>B</b> & "friends" ✓  ';
      const response = await a.app.inject({
        method: 'POST',
        url: '/api/v1/chat/',
        headers: bearer(u.tokens.access_token),
        payload: { message },
      });
      expect(response.statusCode, response.body).toBe(200);
      const answer = response.json<{ session_id: string; message_id: number; model: string }>();

      const end = await uOnB.next('stream_end', { timeoutMs: 10_000 });
      expect(types(uOnB.frames)).toEqual([
        'connection',
        'message_received',
        'stream_start',
        'stream_chunk',
        'stream_chunk',
        'stream_chunk',
        'stream_end',
      ]);
      const received = uOnB.ofType('message_received')[0];
      expect(received).toMatchObject({ message, session_id: answer.session_id });
      expect(uOnB.ofType('stream_start')[0]).toMatchObject({
        session_id: answer.session_id,
        model: answer.model,
      });
      expect(uOnB.ofType('stream_chunk')).toEqual(
        ['Hello', ' <there>', ' & you'].map((content) => ({
          type: 'stream_chunk',
          content,
          done: false,
          session_id: answer.session_id,
        })),
      );
      expect(end).toMatchObject({
        full_response: 'Hello <there> & you',
        message_id: answer.message_id,
        session_id: answer.session_id,
        model: answer.model,
      });
      // The ids are those of the stored question and answer.
      const page = await b.app.inject({
        url: `/api/v1/chat/sessions/${answer.session_id}`,
        headers: bearer(u.tokens.access_token),
      });
      expect(page.statusCode, page.body).toBe(200);
      const stored = page.json<{ messages: MessageItem[] }>().messages;
      expect(stored.map((m) => [m.id, m.role, m.content])).toEqual([
        [received?.message_id, 'user', message],
        [answer.message_id, 'assistant', 'Hello <there> & you'],
      ]);

      // A pong answers after anything B relayed to V's socket while it relayed the turn to U's.
      vOnB.send({ type: 'ping' });
      await vOnB.next('pong');
      expect(types(vOnB.frames)).toEqual(['connection', 'pong']);
    });

    it("relays a socket's chat to the user's other sockets on both instances, and not back to the asker", async () => {
      const [a, b] = pair();
      const token = (await registerAndLogin(a.app)).tokens.access_token;
      const asker = await admit(a, token);
      const besideAsker = await admit(a, token);
      const onB = await admit(b, token);
      llm.reply({ tokens: ['One', ' two'] });
      asker.send({ type: 'chat', message: 'Count to two' });
      await asker.next('stream_end', { timeoutMs: 10_000 });
      await onB.next('stream_end', { timeoutMs: 10_000 });
      await besideAsker.next('stream_end', { timeoutMs: 10_000 });
      // A's subscriber has handed the whole turn to both of the user's sockets there (besideAsker has it all): a pong
      // on the asker now comes after any echo of it.
      asker.send({ type: 'ping' });
      await asker.next('pong');

      const turn = ['message_received', 'stream_start', 'stream_chunk', 'stream_chunk', 'stream_end'];
      expect(types(asker.frames)).toEqual(['connection', ...turn, 'pong']);
      const asked = asker.frames.slice(1, -1).map(untimed);
      expect(asked[0]).toMatchObject({ message: 'Count to two' });
      expect(asked.at(-1)).toMatchObject({ full_response: 'One two' });
      for (const other of [onB, besideAsker]) {
        expect(types(other.frames)).toEqual(['connection', ...turn]);
        expect(other.frames.slice(1).map(untimed)).toEqual(asked);
      }
    });
  });

  describeWithRedis('server limit on two instances', () => {
    const prefix = testPrefix();
    const instances = instancesSharing(2, () => ({
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      WS_MAX_CONNECTIONS: '4',
      WS_MAX_CONNECTIONS_PER_USER: '4',
    }));
    afterEach(() => closeAllSockets());

    it('counts the sockets of both instances against WS_MAX_CONNECTIONS', async () => {
      const [a, b] = instances as [Instance, Instance];
      const [u, v, w] = [
        await registerAndLogin(a.app),
        await registerAndLogin(a.app),
        await registerAndLogin(a.app),
      ].map((registered) => registered.tokens.access_token) as [string, string, string];
      await admit(a, u);
      await admit(a, u);
      await admit(b, v);
      const vOnB = await admit(b, v);
      expect(await refusal(a, w)).toEqual(SERVER_LIMIT);
      expect(await refusal(b, w)).toEqual(SERVER_LIMIT);

      vOnB.close();
      await vOnB.waitClosed();
      await poll(
        "a third user's socket on A after one on B closed",
        () => attempt(a, w),
        (result) => 'admitted' in result,
      );
      expect(await refusal(b, u)).toEqual(SERVER_LIMIT);
    });
  });

  describeWithRedis('an instance killed without cleanup', () => {
    const prefix = testPrefix();
    const env = {
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      WS_REDIS_LEASE_MS: '1000',
      WS_MAX_CONNECTIONS_PER_USER: '2',
    };
    const instances = instancesSharing(1, () => env);
    afterEach(async () => {
      closeAllSockets();
      await killSpawned();
    });

    it("frees the dead instance's slots within about one lease", async () => {
      const b = instances[0] as Instance;
      const token = (await registerAndLogin(b.app)).tokens.access_token;
      // The real server (startServer) in a process of its own, on B's database and Redis.
      const server = spawnSlowServer({
        ...env,
        ENVIRONMENT: 'test',
        DATA_DIR: b.t.database.dataDir,
        DATABASE_URL: b.t.config.db.url,
        HOST: '127.0.0.1',
        PORT: '0',
        LOG_LEVEL: 'info',
        JWT_SECRET_KEY: TEST_JWT_SECRET,
        RATE_LIMIT_PER_MINUTE: '0',
      });
      const dying = { url: `ws://127.0.0.1:${await listeningPort(server)}` };
      await admit(dying, token);
      await admit(dying, token);
      expect(await refusal(b, token)).toEqual(userLimit(2));

      await server.kill(); // SIGKILL: no close, no release, no renewal any more
      expect(server.exit?.signal).toBe('SIGKILL');
      // Its lease (1 s, renewed every third of it) still runs: the two sockets still count.
      expect(await refusal(b, token)).toEqual(userLimit(2));
      await poll(
        'a socket on B once the dead instance stopped counting',
        () => attempt(b, token),
        (result) => 'admitted' in result,
        5_000,
      );
      // Both of its sockets stopped counting, not one.
      await admit(b, token);
      expect(await refusal(b, token)).toEqual(userLimit(2));
    });
  });

  describeWithOwnRedis('Redis going away under two instances', () => {
    let redis: OwnRedis;
    let llm: LlmStandIn;
    const prefix = testPrefix();
    // Renewals every 2 s: a test can act between two of them.
    const LEASE_MS = 6000;
    beforeAll(async () => {
      redis = await OwnRedis.start();
      llm = await startLlmStandIn({ models: ['tinyllama:latest'] });
    });
    afterAll(async () => {
      await llm?.close();
      await redis?.kill();
    });
    const instances = instancesSharing(
      2,
      () => ({
        REDIS_URL: redis.url,
        REDIS_KEY_PREFIX: prefix,
        WS_REDIS_LEASE_MS: String(LEASE_MS),
        WS_MAX_CONNECTIONS_PER_USER: '3',
        OLLAMA_URL: llm.url,
        LLM_RETRY_BASE_MS: '1',
      }),
      { captureLogs: true },
    );
    const pair = () => instances as [Instance, Instance];
    let probe: Redis | undefined;
    afterEach(async () => {
      closeAllSockets();
      probe?.disconnect();
      probe = undefined;
      // A test that failed may leave Redis just restarted.
      for (const { app } of pair()) await redisReady(app, true);
      await drained(pair()[0]);
      llm.assertNoUnexpected();
    });

    it('counts per instance while Redis is down, and shares the counts again once it is back', async () => {
      const [a, b] = pair();
      const admin = await superuserToken(a.app);
      const u = await registerAndLogin(a.app);
      const token = u.tokens.access_token;
      const owner = `user:${u.user.id}`;
      await admit(a, token);
      const onB = await admit(b, token);
      const leaving = await admit(b, token);

      // Another user, whose first socket subscribes while Redis is away.
      const w = await registerAndLogin(a.app);
      let wOnB: TestSocket | undefined;
      let during: TestSocket | undefined;
      await redis.kill();
      try {
        await redisReady(a.app, false);
        await redisReady(b.app, false);
        // The user had 3 sockets, the limit, when Redis went away: a fourth is admitted, counted by A alone.
        during = await admit(a, token);
        wOnB = await admit(b, w.tokens.access_token);
        // Closed while its release cannot reach Redis.
        leaving.close();
        await leaving.waitClosed();
        await poll(
          "B's own figures without the closed socket",
          async () => figures(await wsStats(b.app, admin)),
          (stats) => stats.instance_connections === 2,
        );
        expect(figures(await wsStats(b.app, admin))).toEqual({
          total_connections: 2,
          total_users: 2,
          user_distribution: { [owner]: 1, [`user:${w.user.id}`]: 1 },
          scope: 'instance',
          instance_connections: 2,
        });
        llm.reply({ tokens: ['Still', ' here'] });
        during.send({ type: 'chat', message: 'Are you there?' });
        const end = await during.next('stream_end', { timeoutMs: 10_000 });
        expect(end).toMatchObject({ full_response: 'Still here' });
        during.send({ type: 'get_history', session_id: end.session_id });
        const history = await during.next('history');
        expect((history.messages as MessageItem[]).map((m) => [m.role, m.content, m.status])).toEqual([
          ['user', 'Are you there?', 'complete'],
          ['assistant', 'Still here', 'complete'],
        ]);
        // The per-user limit holds per instance meanwhile: A counts its own sockets, the first one among them.
        await admit(a, token);
        expect(figures(await wsStats(a.app, admin))).toEqual({
          total_connections: 3,
          total_users: 1,
          user_distribution: { [owner]: 3 },
          scope: 'instance',
          instance_connections: 3,
        });
        expect(await refusal(a, token)).toEqual(userLimit(3));
        expect(a.t.logs.map((line) => line.msg)).toContain(
          'Redis is unavailable: WebSocket connection limits are counted per instance until it answers again',
        );
      } finally {
        await redis.restart();
      }
      await redisReady(a.app, true);
      await redisReady(b.app, true);
      // The next renewal of each instance writes its counts back: 3 on A, 1 on B (one more than the limit, admitted
      // while each counted alone), and the other user's socket on B.
      for (const [instance, own] of [
        [a, 3],
        [b, 2],
      ] as const) {
        const stats = await poll(
          'the counts back in Redis',
          async () => figures(await wsStats(instance.app, admin)),
          (read) => read.scope === 'cluster' && read.total_connections === 5,
          15_000,
        );
        expect(stats).toEqual({
          total_connections: 5,
          total_users: 2,
          user_distribution: { [owner]: 4, [`user:${w.user.id}`]: 1 },
          scope: 'cluster',
          instance_connections: own,
        });
      }
      expect(a.t.logs.map((line) => line.msg)).toContain(
        'Redis answers again: WebSocket connection limits are shared by every instance again',
      );
      expect(await refusal(b, token)).toEqual(userLimit(3));

      // The subscriptions came back too: a chat on A reaches the user's socket on B again.
      probe = new Redis(redis.url);
      const channel = `${prefix}ws:owner:${owner}`;
      await poll(
        'both instances subscribed to the channel again',
        async () => (await probe?.pubsub('NUMSUB', channel)) as [string, number],
        (answer) => Number(answer[1]) === 2,
        15_000,
      );
      llm.reply({ tokens: ['Back'] });
      const from = onB.frames.length;
      during.send({ type: 'chat', message: 'Hello again' });
      expect(await onB.next('stream_end', { from, timeoutMs: 10_000 })).toMatchObject({
        full_response: 'Back',
      });
      // The socket that subscribed during the outage is subscribed now too: an HTTP chat on A reaches it on B.
      await poll(
        'B subscribed to the channel of the user who connected during the outage',
        async () =>
          (await probe?.pubsub('NUMSUB', `${prefix}ws:owner:user:${w.user.id}`)) as [string, number],
        (answer) => Number(answer[1]) === 1,
        15_000,
      );
      llm.reply({ tokens: ['Heard'] });
      const asked = await a.app.inject({
        method: 'POST',
        url: '/api/v1/chat/',
        headers: { authorization: `Bearer ${w.tokens.access_token}` },
        payload: { message: 'Anyone?' },
      });
      expect(asked.statusCode, asked.body).toBe(200);
      expect(await wOnB?.next('stream_end', { timeoutMs: 10_000 })).toMatchObject({ full_response: 'Heard' });
      expect(a.t.logs.filter((line) => Number(line.level) >= 50)).toEqual([]);
      expect(b.t.logs.filter((line) => Number(line.level) >= 50)).toEqual([]);
    });

    it('keeps the counts of an instance when Redis restarts empty between two renewals', async () => {
      const [a, b] = pair();
      const admin = await superuserToken(a.app);
      const u = await registerAndLogin(a.app);
      const token = u.tokens.access_token;
      const owner = `user:${u.user.id}`;
      await admit(a, token);
      await admit(a, token);

      // Find A's lease (its hash holds the user's two sockets) and wait for it to be renewed: the next renewal is
      // LEASE_MS / 3 away.
      probe = new Redis(redis.url);
      const client = probe;
      const keys = await client.keys(`${prefix}ws:counts:*`);
      const counts = await Promise.all(keys.map((key) => client.hget(key, owner)));
      const ownKey = keys[counts.indexOf('2')];
      expect(ownKey, JSON.stringify({ keys, counts })).toBeDefined();
      const id = String(ownKey).slice(`${prefix}ws:counts:`.length);
      const lease = () => client.zscore(`${prefix}ws:instances`, id);
      const before = await lease();
      await poll('a renewal of A', lease, (score) => score !== before, LEASE_MS);

      // Restarted empty before A's next renewal, and a socket taken through Redis first.
      await redis.kill();
      await redis.restart();
      await redisReady(a.app, true);
      await admit(a, token);
      await redisReady(b.app, true);

      const stats = await poll(
        "A's three sockets counted in Redis",
        async () => figures(await wsStats(a.app, admin)),
        (read) => read.scope === 'cluster' && read.user_distribution[owner] === 3,
        3 * LEASE_MS,
      );
      expect(stats).toMatchObject({ total_connections: 3, user_distribution: { [owner]: 3 } });
      // What the counts are for: the user has three sockets, B refuses a fourth.
      expect(await refusal(b, token)).toEqual(userLimit(3));
    });
  });
});
