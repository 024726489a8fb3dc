// The general limit over HTTP, on both stores (memory; Redis with an injected clock): which routes it covers, who it
// counts (a verified token's user, else the client IP as TRUST_PROXY resolves it), and what a limited answer says.
import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { App } from '../../../src/app.js';
import { ManualClock } from '../../../src/lib/clock.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, registerAndLogin } from '../../helpers/auth.js';
import { TEST_REDIS_URL } from '../../helpers/services.js';

const START = Date.parse('2026-12-04T10:00:00.000Z');
const LIMITED = { RATE_LIMIT_PER_MINUTE: '100', RATE_LIMIT_BURST: '20' };

interface Backend {
  name: string;
  available: boolean;
  env: () => Record<string, string>;
}
const BACKENDS: Backend[] = [
  { name: 'memory', available: true, env: () => ({}) },
  {
    name: 'redis',
    available: inject('redisAvailable'),
    env: () => ({ REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: `sutazai-test:${randomUUID()}:` }),
  },
];

let address = 0;
/** A client address no other test uses. */
const newAddress = () => `10.1.${Math.floor(++address / 250)}.${(address % 250) + 1}`;

function get(app: App, url: string, from: string, headers: Record<string, string> = {}) {
  return app.inject({ method: 'GET', url, remoteAddress: from, headers });
}

async function times(count: number, send: () => Promise<LightMyRequestResponse>) {
  const answers: LightMyRequestResponse[] = [];
  for (let i = 0; i < count; i++) answers.push(await send());
  return answers;
}
const statuses = (answers: LightMyRequestResponse[]) => answers.map((a) => a.statusCode);
const limitedCount = (answers: LightMyRequestResponse[]) => statuses(answers).filter((s) => s === 429).length;

for (const backend of BACKENDS) {
  (backend.available ? describe : describe.skip)(`general rate limit [${backend.name}]`, () => {
    const clock = new ManualClock(new Date(START));
    let t: TestApp;
    let trusting: TestApp;
    beforeAll(async () => {
      [t, trusting] = await Promise.all([
        buildTestApp({ clock, env: { ...LIMITED, ...backend.env() } }),
        buildTestApp({ clock, env: { ...LIMITED, ...backend.env(), TRUST_PROXY: 'true' } }),
      ]);
    });
    afterAll(async () => {
      await Promise.all([t?.close(), trusting?.close()]);
    });

    it('sends the X-RateLimit-* and IETF RateLimit headers on every answer it applies to', async () => {
      const from = newAddress();
      const answer = await get(t.app, '/api/v1/chat/sessions', from);
      expect(answer.headers).toMatchObject({
        'x-ratelimit-limit': '100',
        'x-ratelimit-remaining': '19',
        'x-ratelimit-reset': String(Math.ceil((clock.now().getTime() + 60_000) / 1000)),
        'ratelimit-policy': '"general";q=100;w=60',
        ratelimit: '"general";r=19;t=60',
      });
      // A 401 and a 404 under /api/v1 count too: probing for tokens or routes is traffic like any other.
      const unauthenticated = await get(t.app, '/api/v1/auth/me', from);
      expect(unauthenticated.statusCode).toBe(401);
      expect(unauthenticated.headers['x-ratelimit-remaining']).toBe('18');
      const missing = await get(t.app, '/api/v1/no-such-route', from);
      expect(missing.statusCode).toBe(404);
      expect(missing.headers['x-ratelimit-remaining']).toBe('17');
    });

    it('answers 429 with Retry-After and the limit in the body once the burst is spent', async () => {
      const from = newAddress();
      const answers = await times(21, () => get(t.app, '/api/v1/chat/sessions', from));
      expect(
        statuses(answers)
          .slice(0, 20)
          .every((s) => s !== 429),
      ).toBe(true);
      const refused = answers[20] as LightMyRequestResponse;
      expect(refused.statusCode).toBe(429);
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.headers['x-ratelimit-remaining']).toBe('0');
      expect(refused.json()).toEqual({
        detail: 'Rate limit exceeded. Try again in 1 seconds',
        code: 'rate_limited',
        retry_after: 1,
        limit: 100,
        remaining: 0,
        reset: Number(refused.headers['x-ratelimit-reset']),
        request_id: refused.headers['x-request-id'],
      });
      // Capacity comes back evenly: one request 600 ms later.
      clock.advance(600);
      expect(statuses(await times(2, () => get(t.app, '/api/v1/chat/sessions', from)))).toEqual([200, 429]);
    });

    it('refuses a body it would not read: the 429 comes before the upload is parsed', async () => {
      const from = newAddress();
      await times(20, () => get(t.app, '/api/v1/chat/sessions', from));
      const answer = await t.app.inject({
        method: 'POST',
        url: '/api/v1/chat/sessions',
        remoteAddress: from,
        payload: '{"broken json',
        headers: { 'content-type': 'application/json' },
      });
      expect(answer.statusCode).toBe(429);
    });

    it('leaves health, /metrics, the root and CORS preflights out', async () => {
      const from = newAddress();
      for (const url of ['/api/v1/health', '/api/v1/health/live', '/health', '/metrics', '/']) {
        const answers = await times(25, () => get(t.app, url, from));
        expect(limitedCount(answers), url).toBe(0);
        expect(answers[0]?.headers['x-ratelimit-limit'], url).toBeUndefined();
      }
      const preflights = await times(25, () =>
        t.app.inject({
          method: 'OPTIONS',
          url: '/api/v1/chat/sessions',
          remoteAddress: from,
          headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'POST' },
        }),
      );
      expect(limitedCount(preflights)).toBe(0);
      // None of that touched the budget.
      expect((await get(t.app, '/api/v1/chat/sessions', from)).headers['x-ratelimit-remaining']).toBe('19');
    });

    it("counts a verified token's requests against its user, wherever they come from", async () => {
      const [alice, bob] = await Promise.all([registerAndLogin(t.app), registerAndLogin(t.app)]);
      const shared = newAddress();
      const asAlice = await Promise.all(
        Array.from({ length: 21 }, (_, i) =>
          get(t.app, '/api/v1/auth/me', i % 2 ? shared : newAddress(), bearer(alice.tokens.access_token)),
        ),
      );
      expect(limitedCount(asAlice)).toBe(1);
      // Bob, and anonymous callers, from the same address have budgets of their own.
      const asBob = await get(t.app, '/api/v1/auth/me', shared, bearer(bob.tokens.access_token));
      expect(asBob.statusCode).toBe(200);
      expect(asBob.headers['x-ratelimit-remaining']).toBe('19');
      expect((await get(t.app, '/api/v1/chat/sessions', shared)).headers['x-ratelimit-remaining']).toBe('19');
    });

    it('counts a token that does not verify against the address: a forged user id buys no budget', async () => {
      const from = newAddress();
      const { tokens } = await registerAndLogin(t.app);
      const [header, payload] = tokens.access_token.split('.');
      const forged = `${header}.${payload}.${'A'.repeat(43)}`;
      const answers = await times(21, () =>
        get(t.app, '/api/v1/auth/me', from, bearer(`${forged.slice(0, -2)}${randomUUID().slice(0, 2)}`)),
      );
      expect(
        statuses(answers)
          .slice(0, 20)
          .every((s) => s === 401),
      ).toBe(true);
      expect(answers[20]?.statusCode).toBe(429);
      expect((await get(t.app, '/api/v1/chat/sessions', from)).statusCode).toBe(429);
    });

    it('ignores X-Forwarded-For without TRUST_PROXY: one address, one budget', async () => {
      const from = newAddress();
      const answers = await times(21, () =>
        get(t.app, '/api/v1/chat/sessions', from, { 'x-forwarded-for': newAddress() }),
      );
      expect(limitedCount(answers)).toBe(1);
    });

    it('keys by the forwarded client with TRUST_PROXY: clients behind one proxy are apart', async () => {
      const proxy = newAddress();
      const [a, b] = [newAddress(), newAddress()];
      const fromA = await times(21, () =>
        get(trusting.app, '/api/v1/chat/sessions', proxy, { 'x-forwarded-for': a }),
      );
      expect(limitedCount(fromA)).toBe(1);
      const fromB = await get(trusting.app, '/api/v1/chat/sessions', proxy, { 'x-forwarded-for': b });
      expect(fromB.statusCode).toBe(200);
      // A forwarded value that is no address is still one client (hashed), not a way around the limit.
      const junk = await times(21, () =>
        get(trusting.app, '/api/v1/chat/sessions', proxy, { 'x-forwarded-for': '<script>' }),
      );
      expect(limitedCount(junk)).toBe(1);
    });

    it('admits exactly the burst of 50 requests sent at once', async () => {
      const from = newAddress();
      const answers = await Promise.all(
        Array.from({ length: 50 }, () => get(t.app, '/api/v1/chat/sessions', from)),
      );
      expect(limitedCount(answers)).toBe(30);
      expect(statuses(answers).filter((s) => s >= 500)).toEqual([]);
    });
  });
}

describe('general rate limit switched off', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ env: { RATE_LIMIT_PER_MINUTE: '0' } });
  });
  afterAll(() => t?.close());

  it('limits nothing and sends no rate limit headers with RATE_LIMIT_PER_MINUTE=0', async () => {
    const answers = await times(150, () => get(t.app, '/api/v1/chat/sessions', '10.9.9.9'));
    expect(limitedCount(answers)).toBe(0);
    expect(answers[0]?.headers['x-ratelimit-limit']).toBeUndefined();
  });
});
