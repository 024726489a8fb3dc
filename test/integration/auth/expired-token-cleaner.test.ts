// The hourly cleanup deletes expired token rows and nothing else.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ManualClock } from '../../../src/lib/clock.js';
import { ExpiredTokenCleaner } from '../../../src/modules/auth/expired-token-cleaner.js';
import {
  OneTimeTokenRepository,
  RefreshTokenRepository,
  RevokedAccessTokenRepository,
} from '../../../src/modules/auth/token.repository.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { register } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';

describeEachDialect('expired token cleanup', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ dialect });
  });
  afterAll(() => t.close());

  it('deletes expired refresh, one-time and denylisted tokens, and keeps live ones', async () => {
    const db = t.app.database.db;
    const user = await register(t.app);
    // Now, so that the verification link the registration made (24 h) stays live throughout.
    const clock = new ManualClock();
    const now = clock.now();
    const hour = 3_600_000;
    const at = (offset: number) => new Date(now.getTime() + offset);
    const refreshTokens = new RefreshTokenRepository(db);
    const oneTimeTokens = new OneTimeTokenRepository(db);
    const revokedAccessTokens = new RevokedAccessTokenRepository(db);
    for (const [name, expiresAt] of [
      ['old', at(-hour)],
      ['live', at(hour)],
    ] as const) {
      await refreshTokens.insert({
        userId: user.id,
        familyId: `family-${name}`,
        tokenHash: `refresh-${name}`,
        issuedAt: at(-2 * hour),
        expiresAt,
      });
      await oneTimeTokens.insert({
        userId: user.id,
        purpose: 'password_reset',
        tokenHash: `reset-${name}`,
        createdAt: at(-2 * hour),
        expiresAt,
      });
      await revokedAccessTokens.insert(`jti-${name}`, expiresAt);
    }
    const cleaner = new ExpiredTokenCleaner({
      refreshTokens,
      oneTimeTokens,
      revokedAccessTokens,
      clock,
      logger: { info: () => undefined, warn: () => undefined },
      intervalMs: hour,
    });

    expect(await cleaner.runOnce()).toEqual({ refreshTokens: 1, oneTimeTokens: 1, revokedAccessTokens: 1 });
    expect(await refreshTokens.findByHash('refresh-live')).toBeDefined();
    expect(await refreshTokens.findByHash('refresh-old')).toBeUndefined();
    const resets = await db.selectFrom('one_time_tokens').select('token_hash').execute();
    expect(resets.map((r) => r.token_hash)).not.toContain('reset-old');
    expect(resets.map((r) => r.token_hash)).toContain('reset-live');
    expect(await revokedAccessTokens.exists('jti-live')).toBe(true);
    expect(await revokedAccessTokens.exists('jti-old')).toBe(false);

    clock.advance(2 * hour);
    expect(await cleaner.runOnce()).toEqual({ refreshTokens: 1, oneTimeTokens: 1, revokedAccessTokens: 1 });
  });
});
