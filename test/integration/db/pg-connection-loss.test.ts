// PostgreSQL connections cut under the server (pg_terminate_backend on the test's own database, as a restart, a
// failover or an operator does): the process stays up whatever state each connection was in (idle in the pool,
// held by an open transaction, in the middle of a query), the requests that lose their connection answer 503
// database_unavailable with Retry-After, and the pool's new connections serve the next ones. Also: no connection
// free within DB_POOL_TIMEOUT_MS is the same 503.
import type { InjectOptions } from 'fastify';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it, vi } from 'vitest';
import { DEPENDENCY_RETRY_AFTER_SECONDS } from '../../../src/platform/dependency-errors.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, login, newUser, register, type RegisteredUser, type TokenPair } from '../../helpers/auth.js';
import { describePostgres } from '../../helpers/dialects.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { TEST_POSTGRES_ADMIN_URL } from '../../helpers/services.js';
import { chatOk } from '../chat/chat.helpers.js';

/** Bound for polls (the machine may be busy); never a measurement. */
const WAIT = { timeout: 15_000, interval: 20 };

/** A promise and the function that settles it. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open = () => {};
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

describePostgres('a cut PostgreSQL connection', () => {
  let t: TestApp;
  let llm: LlmStandIn;
  let admin: pg.Client;
  let databaseName: string;
  /** One account for the whole file (registration may be limited per address); each login is its own family. */
  let user: RegisteredUser;
  let token: string;
  /** What reached process 'uncaughtException': the old code died of pg's unhandled 'error' event here. */
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);
  /** The test routes' transaction: told when it is open, and held until the test lets it go on. */
  let entered = gate();
  let proceed = gate();

  beforeAll(async () => {
    process.on('uncaughtException', onUncaught);
    llm = await startLlmStandIn({ models: ['tinyllama:latest'] });
    t = await buildTestApp({
      dialect: 'postgres',
      captureLogs: true,
      env: {
        OLLAMA_URL: llm.url,
        LLM_RETRY_BASE_MS: '1',
        LLM_MAX_CONCURRENT_PER_USER: '100',
        LLM_MAX_CONCURRENT: '100',
        // A login cut between its lockout reservation and its verdict keeps its reservation until it lapses
        // (login-lock.service.ts), and the load test's logins are cut often: not what this file is about.
        LOCKOUT_THRESHOLD: '1000',
      },
      extend: (app) => {
        // Holds a transaction open between two queries ("idle in transaction"), until the test says go on.
        app.get('/test/held-transaction', async () => {
          await app.database.db.transaction().execute(async (trx) => {
            await sql`select 1`.execute(trx);
            entered.open();
            await proceed.wait;
            await sql`select 2`.execute(trx);
          });
          return { ok: true };
        });
        // A query still running when its backend is killed, inside a transaction or on its own.
        app.get<{ Querystring: { transaction?: string } }>('/test/long-query', async (request) => {
          const run = (db: typeof app.database.db) => sql`select pg_sleep(60)`.execute(db);
          if (request.query.transaction === 'yes') await app.database.db.transaction().execute(run);
          else await run(app.database.db);
          return { ok: true };
        });
      },
    });
    databaseName = new URL(t.database.url).pathname.slice(1);
    admin = new pg.Client({ connectionString: TEST_POSTGRES_ADMIN_URL });
    await admin.connect();
    user = await register(t.app);
    token = (await login(t.app, user.username)).access_token;
  });
  beforeEach(() => {
    entered = gate();
    proceed = gate();
    uncaught.length = 0;
  });
  afterEach(() => {
    proceed.open();
    llm.assertNoUnexpected();
  });
  afterAll(async () => {
    process.off('uncaughtException', onUncaught);
    await t?.close();
    await llm?.close();
    await admin?.end();
  });

  /** Terminates every backend of this test's database (only this one); returns how many. */
  async function killBackends(): Promise<number> {
    const { rows } = await admin.query<{ killed: string }>(
      `select count(*) filter (where pg_terminate_backend(pid)) as killed
       from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`,
      [databaseName],
    );
    return Number(rows[0]?.killed);
  }

  async function backends(where = 'true'): Promise<number> {
    const { rows } = await admin.query<{ n: string }>(
      `select count(*) as n from pg_stat_activity where datname = $1 and pid <> pg_backend_pid() and ${where}`,
      [databaseName],
    );
    return Number(rows[0]?.n);
  }

  function expectUnavailable(response: {
    statusCode: number;
    headers: Record<string, unknown>;
    body: string;
  }) {
    expect(response.statusCode, response.body).toBe(503);
    expect(response.headers['retry-after']).toBe(String(DEPENDENCY_RETRY_AFTER_SECONDS));
    expect(JSON.parse(response.body)).toEqual({
      detail: 'The database is unavailable; try again shortly',
      code: 'database_unavailable',
      request_id: response.headers['x-request-id'],
    });
    const logged = t.logs.filter((line) => line.request_id === response.headers['x-request-id']);
    expect(logged.filter((line) => (line.level as number) >= 50)).toHaveLength(1);
  }

  /** A read and a write (a login stores a refresh token) are served again. */
  async function expectServing(): Promise<void> {
    const me = await t.app.inject({ url: '/api/v1/auth/me', headers: bearer(token) });
    expect(me.statusCode, me.body).toBe(200);
    await login(t.app, user.username);
  }

  it('idle pooled connections: each logged in one short line, replaced, no request fails', async () => {
    const warnings = () =>
      t.logs.filter((l) => l.msg === 'an idle database connection failed; the pool replaces it');
    // Twice: the second time the idle connections are ones that requests opened (after the first kill).
    for (let round = 1; round <= 2; round += 1) {
      await expectServing();
      const idle = t.app.database.poolStats().idle;
      expect(idle).toBeGreaterThan(0);
      const before = warnings().length;
      expect(await killBackends()).toBeGreaterThanOrEqual(idle);
      await vi.waitFor(() => expect(warnings().length).toBeGreaterThanOrEqual(before + idle), WAIT);
    }
    for (const line of warnings()) {
      // The reason and its code, not the error with the whole pg Client hung on it (config, socket, queues).
      expect(line).toMatchObject({
        level: 40,
        code: '57P01',
        reason: expect.stringMatching(/terminat/) as string,
      });
      expect(line).not.toHaveProperty('err');
      // Not attributed to the request that happened to open the connection.
      expect(line).not.toHaveProperty('request_id');
      expect(JSON.stringify(line).length).toBeLessThan(400);
    }
    await expectServing();
    expect(uncaught).toEqual([]);
  });

  it('a connection held by an open transaction: no crash, that request 503, the next ones served', async () => {
    const held = t.app.inject({ url: '/test/held-transaction' });
    await entered.wait;
    expect(await backends(`state = 'idle in transaction'`)).toBe(1);
    expect(await killBackends()).toBeGreaterThan(0);
    await vi.waitFor(async () => expect(await backends()).toBe(0), WAIT);
    proceed.open();
    expectUnavailable(await held);
    await expectServing();
    expect(uncaught).toEqual([]);
  });

  it.each([
    ['inside a transaction', 'yes'],
    ['on its own', 'no'],
  ])(
    'a connection in the middle of a query %s: no crash, 503, the next ones served',
    async (_, transaction) => {
      const running = t.app.inject({ url: `/test/long-query?transaction=${transaction}` });
      await vi.waitFor(
        async () => expect(await backends(`state = 'active' and query like 'select pg_sleep%'`)).toBe(1),
        WAIT,
      );
      expect(await killBackends()).toBeGreaterThan(0);
      expectUnavailable(await running);
      await expectServing();
      expect(uncaught).toEqual([]);
    },
  );

  it('under a mixed load of 8 in flight, backends killed 3 times: no crash, only 503s, then all served', async () => {
    const kinds = ['me', 'chat', 'sessions', 'session', 'refresh', 'anonymous chat'] as const;
    type Kind = (typeof kinds)[number] | 'login';
    const seen: { kind: Kind; statusCode: number; headers: Record<string, unknown>; body: string }[] = [];
    let stop = false;

    /** One request; a hang fails the test (a generous bound, not a measurement). */
    async function send(kind: Kind, options: InjectOptions) {
      let timer: NodeJS.Timeout | undefined;
      const hang = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${kind} got no answer within 20 s`)), 20_000);
      });
      try {
        const response = await Promise.race([t.app.inject(options), hang]);
        seen.push({ kind, statusCode: response.statusCode, headers: response.headers, body: response.body });
        return response;
      } finally {
        clearTimeout(timer);
      }
    }

    /** A login of its own (a refresh-token family per worker); retried while the database is away. */
    async function freshLogin(): Promise<TokenPair> {
      for (;;) {
        const response = await send('login', {
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: new URLSearchParams({ username: user.username, password: user.password }).toString(),
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        });
        if (response.statusCode === 200) return response.json<TokenPair>();
      }
    }

    async function worker(n: number): Promise<void> {
      let tokens = await freshLogin();
      llm.reply({ tokens: ['Hello'] });
      const sessionId = (await chatOk(t.app, { message: `worker ${n}` }, tokens.access_token)).session_id;
      for (let i = n; !stop; i += 1) {
        const kind = kinds[i % kinds.length] ?? 'me';
        const auth = bearer(tokens.access_token);
        if (kind === 'chat' || kind === 'anonymous chat') llm.reply({ tokens: ['Fine', ' thanks'] });
        const response = await send(
          kind,
          kind === 'me'
            ? { url: '/api/v1/auth/me', headers: auth }
            : kind === 'chat'
              ? {
                  method: 'POST',
                  url: '/api/v1/chat/',
                  headers: auth,
                  payload: { message: 'And?', session_id: sessionId },
                }
              : kind === 'anonymous chat'
                ? { method: 'POST', url: '/api/v1/chat/', payload: { message: 'Hi' } }
                : kind === 'sessions'
                  ? { url: '/api/v1/chat/sessions', headers: auth }
                  : kind === 'session'
                    ? { url: `/api/v1/chat/sessions/${sessionId}`, headers: auth }
                    : {
                        method: 'POST',
                        url: '/api/v1/auth/refresh',
                        payload: { refresh_token: tokens.refresh_token },
                      },
        );
        // A refresh that failed may still have rotated the token: start a new login rather than reuse it.
        if (kind === 'refresh')
          tokens = response.statusCode === 200 ? response.json<TokenPair>() : await freshLogin();
      }
    }

    const workers = Array.from({ length: 8 }, (_, n) => worker(n));
    const settled = Promise.allSettled(workers);
    const killed: number[] = [];
    const answered = async (count: number) => {
      // A worker that failed ends the wait at once (allSettled below reports why).
      const failed = settled.then(() => undefined);
      await Promise.race([
        vi.waitFor(() => expect(seen.length).toBeGreaterThanOrEqual(count), {
          timeout: 60_000,
          interval: 10,
        }),
        failed,
      ]);
    };
    await answered(40);
    for (let round = 0; round < 3; round += 1) {
      killed.push(await killBackends());
      await answered(seen.length + 60);
    }
    stop = true;
    for (const result of await settled) if (result.status === 'rejected') throw result.reason;

    expect(uncaught).toEqual([]);
    expect(
      killed.every((n) => n > 0),
      `backends killed per round: ${killed.join(', ')}`,
    ).toBe(true);
    const failures = seen.filter((r) => r.statusCode !== 200);
    // Some requests were in flight at each kill (about ten 503s in all, runs on this machine): else nothing was tried.
    expect(failures.length).toBeGreaterThan(0);
    for (const failure of failures) {
      expect(failure.statusCode, `${failure.kind}: ${failure.body}`).toBe(503);
      expect(failure.headers['retry-after']).toBe(String(DEPENDENCY_RETRY_AFTER_SECONDS));
      expect(JSON.parse(failure.body)).toMatchObject({ code: 'database_unavailable' });
    }

    // Afterwards every kind of request is served again.
    const { access_token: after } = await login(t.app, user.username);
    llm.reply({ tokens: ['Back'] });
    const chat = await chatOk(t.app, { message: 'Still there?' }, after);
    llm.reply({ tokens: ['Back'] });
    await chatOk(t.app, { message: 'Hello?' });
    for (const url of [
      '/api/v1/auth/me',
      '/api/v1/chat/sessions',
      `/api/v1/chat/sessions/${chat.session_id}`,
    ]) {
      const response = await t.app.inject({ url, headers: bearer(after) });
      expect(response.statusCode, `${url}: ${response.body}`).toBe(200);
    }
    expect(uncaught).toEqual([]);
  });
});

describePostgres('no PostgreSQL connection free in time', () => {
  let t: TestApp;
  let proceed = gate();
  let entered = gate();
  beforeAll(async () => {
    t = await buildTestApp({
      dialect: 'postgres',
      env: { DB_POOL_SIZE: '1', DB_POOL_TIMEOUT_MS: '2000' },
      extend: (app) => {
        app.get('/test/held-transaction', async () => {
          await app.database.db.transaction().execute(async (trx) => {
            await sql`select 1`.execute(trx);
            entered.open();
            await proceed.wait;
          });
          return { ok: true };
        });
      },
    });
  });
  afterAll(async () => {
    proceed.open();
    await t?.close();
  });

  it('answers 503 database_unavailable with Retry-After (the pool checkout timed out), then serves', async () => {
    const held = t.app.inject({ url: '/test/held-transaction' });
    await entered.wait;
    const waiting = await t.app.inject({ method: 'POST', url: '/api/v1/auth/register', payload: newUser() });
    expect(waiting.statusCode, waiting.body).toBe(503);
    expect(waiting.headers['retry-after']).toBe(String(DEPENDENCY_RETRY_AFTER_SECONDS));
    expect(waiting.json()).toMatchObject({ code: 'database_unavailable' });
    proceed.open();
    expect((await held).statusCode).toBe(200);
    await register(t.app);
    proceed = gate();
    entered = gate();
  });
});
