// TokenService on its own: what it signs, what it accepts, and what it refuses (type, expiry, tampering, other
// keys, issuers and audiences, an iat in the future, a life longer than configured), with a ManualClock instead of
// real time.
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { TokenService, hashToken, newOpaqueToken, type TokenSettings } from './token.service.js';

const SETTINGS: TokenSettings = {
  secret: 'unit-test-secret-that-is-long-enough-0123456789',
  issuer: 'sutazai',
  audience: 'sutazai-api',
  accessTokenMinutes: 30,
  refreshTokenDays: 7,
};
const USER = { id: 42, username: 'ada', email: 'ada@example.com', sessionVersion: 3 };
// A whole second, so that "seconds since issue" is exact.
const START = new Date('2030-01-01T00:00:00.000Z');

/** Replaces one base64url segment of a JWT with `edit` applied to its decoded JSON. */
function editSegment(token: string, index: 0 | 1, edit: (json: Record<string, unknown>) => void): string {
  const parts = token.split('.');
  const json = JSON.parse(Buffer.from(parts[index] ?? '', 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
  edit(json);
  parts[index] = Buffer.from(JSON.stringify(json)).toString('base64url');
  return parts.join('.');
}

describe('TokenService', () => {
  let clock: ManualClock;
  let service: TokenService;
  beforeEach(() => {
    clock = new ManualClock(START);
    service = new TokenService(SETTINGS, clock);
  });

  it('issues a pair whose tokens verify with their own type, with the subject and session', async () => {
    const pair = await service.issuePair(USER, 'family-1');
    expect(pair.expiresIn).toBe(1800);
    expect(pair.refreshExpiresAt).toEqual(new Date(START.getTime() + 7 * 86_400_000));
    const access = await service.verify(pair.accessToken, 'access');
    expect(access).toEqual({
      userId: 42,
      username: 'ada',
      jti: expect.any(String) as string,
      sessionId: 'family-1',
      sessionVersion: 3,
      expiresAt: new Date(START.getTime() + 1_800_000),
    });
    const refresh = await service.verify(pair.refreshToken, 'refresh');
    expect(refresh).toMatchObject({ userId: 42, username: 'ada', sessionId: 'family-1', sessionVersion: 3 });
    expect(refresh?.expiresAt).toEqual(pair.refreshExpiresAt);
    expect(refresh?.jti).not.toBe(access?.jti);
  });

  it('signs HS256 with the claims of the original plus jti, iat, exp, iss and aud', async () => {
    const pair = await service.issuePair(USER, 'family-1');
    expect(decodeProtectedHeader(pair.accessToken)).toEqual({ alg: 'HS256', typ: 'JWT' });
    const claims = decodeJwt(pair.accessToken);
    expect(claims).toMatchObject({
      sub: 'ada',
      user_id: 42,
      email: 'ada@example.com',
      type: 'access',
      iss: 'sutazai',
      aud: 'sutazai-api',
      iat: START.getTime() / 1000,
      exp: START.getTime() / 1000 + 1800,
    });
    expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(decodeJwt(pair.refreshToken)).toMatchObject({
      type: 'refresh',
      exp: START.getTime() / 1000 + 604_800,
    });
  });

  it('gives every token its own jti', async () => {
    const pairs = await Promise.all(Array.from({ length: 5 }, () => service.issuePair(USER, 'f')));
    const jtis = pairs.flatMap((p) => [decodeJwt(p.accessToken).jti, decodeJwt(p.refreshToken).jti]);
    expect(new Set(jtis).size).toBe(10);
  });

  it('refuses a token of the other type', async () => {
    const pair = await service.issuePair(USER, 'family-1');
    expect(await service.verify(pair.accessToken, 'refresh')).toBeUndefined();
    expect(await service.verify(pair.refreshToken, 'access')).toBeUndefined();
  });

  it('accepts an access token until the second it expires, then refuses it', async () => {
    const pair = await service.issuePair(USER, 'family-1');
    clock.advance(1799_000);
    expect(await service.verify(pair.accessToken, 'access')).toBeDefined();
    clock.advance(1_000);
    expect(await service.verify(pair.accessToken, 'access')).toBeUndefined();
    // The refresh token lives on for 7 days.
    expect(await service.verify(pair.refreshToken, 'refresh')).toBeDefined();
    clock.advance(7 * 86_400_000);
    expect(await service.verify(pair.refreshToken, 'refresh')).toBeUndefined();
  });

  it('checks a token it verified before against the clock again: expiry, and an iat too far ahead', async () => {
    const pair = await service.issuePair(USER, 'family-1');
    const first = await service.verify(pair.accessToken, 'access');
    expect(first).toBeDefined();
    expect(await service.verify(pair.accessToken, 'access')).toEqual(first);
    // A clock set back more than the skew before the token's iat refuses it, as a first check would.
    clock.advance(-61_000);
    expect(await service.verify(pair.accessToken, 'access')).toBeUndefined();
    clock.advance(61_000 + 1800_000);
    expect(await service.verify(pair.accessToken, 'access')).toBeUndefined();
  });

  it('follows ACCESS_TOKEN_EXPIRE_MINUTES and REFRESH_TOKEN_EXPIRE_DAYS', async () => {
    const other = new TokenService({ ...SETTINGS, accessTokenMinutes: 5, refreshTokenDays: 1 }, clock);
    const pair = await other.issuePair(USER, 'f');
    expect(pair.expiresIn).toBe(300);
    const claims = decodeJwt(pair.refreshToken);
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(86_400);
  });

  it('refuses a token whose payload was changed after signing', async () => {
    const pair = await service.issuePair(USER, 'family-1');
    for (const edit of [
      (p: Record<string, unknown>) => (p.user_id = 1),
      (p: Record<string, unknown>) => (p.sub = 'admin'),
      (p: Record<string, unknown>) => (p.exp = (p.exp as number) + 86_400),
      (p: Record<string, unknown>) => (p.ver = 4),
    ]) {
      const tampered = editSegment(pair.accessToken, 1, edit);
      expect(tampered).not.toBe(pair.accessToken);
      expect(await service.verify(tampered, 'access')).toBeUndefined();
    }
  });

  it('refuses a changed signature, a changed header and anything that is not a JWT', async () => {
    const pair = await service.issuePair(USER, 'family-1');
    const [header, payload, signature = ''] = pair.accessToken.split('.');
    const flipped = `${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
    expect(await service.verify(`${header}.${payload}.${flipped}`, 'access')).toBeUndefined();
    expect(await service.verify(`${header}.${payload}.`, 'access')).toBeUndefined();
    const none = editSegment(pair.accessToken, 0, (h) => (h.alg = 'none'));
    expect(await service.verify(none, 'access')).toBeUndefined();
    for (const garbage of ['', 'x', 'a.b.c', `${header}.${payload}`])
      expect(await service.verify(garbage, 'access')).toBeUndefined();
  });

  it('refuses a token issued more than a minute in the future (another clock running ahead a little is fine)', async () => {
    const issuedAt = (ms: number) =>
      new TokenService(SETTINGS, new ManualClock(new Date(START.getTime() + ms))).issuePair(USER, 'f');
    const slightlyAhead = await issuedAt(50_000);
    expect(await service.verify(slightlyAhead.accessToken, 'access')).toBeDefined();
    expect(await service.verify(slightlyAhead.refreshToken, 'refresh')).toBeDefined();
    const future = await issuedAt(120_000);
    expect(await service.verify(future.accessToken, 'access')).toBeUndefined();
    expect(await service.verify(future.refreshToken, 'refresh')).toBeUndefined();
    // Once that moment has come, the same token is fine: it is its iat that was refused, nothing else.
    clock.advance(120_000);
    expect(await service.verify(future.accessToken, 'access')).toBeDefined();
  });

  it('refuses a token that lives longer than its type is configured to, beyond a minute of skew', async () => {
    const longer = new TokenService({ ...SETTINGS, accessTokenMinutes: 32, refreshTokenDays: 8 }, clock);
    const pair = await longer.issuePair(USER, 'f');
    expect(await service.verify(pair.accessToken, 'access')).toBeUndefined();
    expect(await service.verify(pair.refreshToken, 'refresh')).toBeUndefined();
    // A shorter life (a setting lowered since, or another instance's) is fine.
    const shorter = await new TokenService(
      { ...SETTINGS, accessTokenMinutes: 5, refreshTokenDays: 1 },
      clock,
    ).issuePair(USER, 'f');
    expect(await service.verify(shorter.accessToken, 'access')).toBeDefined();
    expect(await service.verify(shorter.refreshToken, 'refresh')).toBeDefined();
  });

  it('says when every access token issued until now will have expired: the lifetime plus twice the skew', () => {
    expect(service.accessTokensExpireBy(START)).toEqual(new Date(START.getTime() + (1800 + 120) * 1000));
  });

  it('refuses tokens of another secret, issuer or audience', async () => {
    const pair = await service.issuePair(USER, 'family-1');
    for (const change of [
      { secret: 'another-secret-that-is-long-enough-0123456789' },
      { issuer: 'someone-else' },
      { audience: 'another-api' },
    ]) {
      const other = new TokenService({ ...SETTINGS, ...change }, clock);
      expect(await other.verify(pair.accessToken, 'access')).toBeUndefined();
      expect(await service.verify((await other.issuePair(USER, 'f')).accessToken, 'access')).toBeUndefined();
    }
  });
});

describe('hashToken and newOpaqueToken', () => {
  it('hashes with SHA-256 to hex, deterministically', () => {
    expect(hashToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hashToken('abc')).toBe(hashToken('abc'));
    expect(hashToken('abd')).not.toBe(hashToken('abc'));
  });

  it('makes 256-bit URL-safe tokens that never repeat', () => {
    const tokens = Array.from({ length: 100 }, () => newOpaqueToken());
    for (const token of tokens) {
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    }
    expect(new Set(tokens).size).toBe(100);
  });
});
