// Logins hash with bcrypt on libuv's thread pool, so the event loop keeps serving while 20 logins are in flight.
// No timing assertion on speed: the loop's longest stall is compared with the time of one hash measured in the same
// test. A blocking hash (bcrypt's hashSync/compareSync) would stall the loop for at least one whole hash.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import bcrypt from 'bcrypt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { newUser, register } from '../../helpers/auth.js';

const PRODUCTION_COST = 12;

describe('event loop during parallel logins', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ env: { BCRYPT_ROUNDS: String(PRODUCTION_COST) } });
  });
  afterAll(() => t.close());

  it('is never blocked for as long as one bcrypt hash while 20 logins run', async () => {
    const user = await register(t.app, newUser());
    const hashStart = performance.now();
    await bcrypt.hash('measure one hash', PRODUCTION_COST);
    const oneHashMs = performance.now() - hashStart;

    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        t.app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: { username: user.username, password: user.password },
        }),
      ),
    );
    histogram.disable();

    expect(answers.map((a) => a.statusCode)).toEqual(Array(20).fill(200));
    const longestStallMs = histogram.max / 1e6;
    expect(longestStallMs, `longest stall ${longestStallMs} ms, one hash ${oneHashMs} ms`).toBeLessThan(
      oneHashMs / 2,
    );
  });
});
