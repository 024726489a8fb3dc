// Signs and checks the JWTs (HS256 only, with iss/aud/jti), and makes the opaque single-use tokens of mailed links.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { SignJWT, jwtVerify, type JWTPayload } from 'jose';
import type { Config } from '../../config.js';
import type { Clock } from '../../lib/clock.js';

export interface TokenSettings {
  secret: string;
  issuer: string;
  audience: string;
  accessTokenMinutes: number;
  refreshTokenDays: number;
}

export interface TokenSubject {
  id: number;
  username: string;
  email: string;
  sessionVersion: number;
}

/** What a valid token says; `sessionId` names the login (refresh family) it belongs to. */
export interface TokenClaims {
  userId: number;
  username: string;
  jti: string;
  sessionId: string;
  sessionVersion: number;
  expiresAt: Date;
}

export interface IssuedPair {
  /** The login (refresh family) both tokens belong to. */
  sessionId: string;
  accessToken: string;
  refreshToken: string;
  /** Seconds until the access token expires. */
  expiresIn: number;
  refreshExpiresAt: Date;
}

type TokenType = 'access' | 'refresh';

/**
 * How far another instance's clock may run ahead of ours: a token issued "in the future" by more than this, or living
 * longer than its type's lifetime by more than this, was not made by a server with our settings (a leaked key, or a
 * forging bug) and is refused.
 */
export const CLOCK_SKEW_SECONDS = 60;

/** The TokenService of the auth settings (the auth plugin's, and the rate limit's identification). */
export function tokenServiceFor(auth: Config['auth'] & { jwtSecret: string }, clock: Clock): TokenService {
  return new TokenService(
    {
      secret: auth.jwtSecret,
      issuer: auth.jwtIssuer,
      audience: auth.jwtAudience,
      accessTokenMinutes: auth.accessTokenMinutes,
      refreshTokenDays: auth.refreshTokenDays,
    },
    clock,
  );
}

/** SHA-256 of a token, hex: what the database keeps instead of the token. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** 256 random bits, URL-safe: the token of a mailed link. */
export function newOpaqueToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Access tokens already verified, by token: the same token comes with every request of its client, and the HMAC and
 * JSON work of a full check cost tens of microseconds each time (twice per request: the rate limit and the route each
 * identify the caller). Only tokens that passed every check are kept, so nothing can be planted; expiry and the iat
 * bound are checked again on every use. Bounded (first in, first out): about 5 MB at most.
 */
const VERIFIED_ACCESS_TOKENS_MAX = 10_000;

interface VerifiedAccessToken {
  claims: TokenClaims;
  iat: number;
  exp: number;
}

export class TokenService {
  private readonly key: Uint8Array;
  readonly #verifiedAccess = new Map<string, VerifiedAccessToken>();

  constructor(
    private readonly settings: TokenSettings,
    private readonly clock: Clock,
  ) {
    this.key = new TextEncoder().encode(settings.secret);
  }

  async issuePair(user: TokenSubject, sessionId: string): Promise<IssuedPair> {
    const now = this.clock.now();
    const accessSeconds = this.lifetimeSeconds('access');
    const refreshSeconds = this.lifetimeSeconds('refresh');
    const [accessToken, refreshToken] = await Promise.all([
      this.sign(user, sessionId, 'access', now, accessSeconds),
      this.sign(user, sessionId, 'refresh', now, refreshSeconds),
    ]);
    return {
      sessionId,
      accessToken,
      refreshToken,
      expiresIn: accessSeconds,
      refreshExpiresAt: new Date(Math.floor(now.getTime() / 1000) * 1000 + refreshSeconds * 1000),
    };
  }

  /** The claims of a valid token of `type`, or undefined (bad signature, other algorithm, expired, wrong type…). */
  async verify(token: string, type: TokenType): Promise<TokenClaims | undefined> {
    if (type === 'access') {
      const known = this.#verifiedAccess.get(token);
      if (known) {
        const nowMs = this.clock.now().getTime();
        // jose's own rules: expired once exp is at or before the current whole second.
        if (known.exp > Math.floor(nowMs / 1000) && known.iat <= nowMs / 1000 + CLOCK_SKEW_SECONDS)
          return known.claims;
        this.#verifiedAccess.delete(token);
      }
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.key, {
        algorithms: ['HS256'],
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        currentDate: this.clock.now(),
        requiredClaims: ['sub', 'jti', 'iat', 'exp'],
      }));
    } catch {
      return undefined;
    }
    const { user_id: userId, sid, ver, type: actualType, sub, jti, exp, iat } = payload;
    if (actualType !== type) return undefined;
    if (typeof userId !== 'number' || !Number.isSafeInteger(userId)) return undefined;
    if (typeof sid !== 'string' || typeof ver !== 'number' || typeof sub !== 'string') return undefined;
    if (typeof jti !== 'string' || typeof exp !== 'number' || typeof iat !== 'number') return undefined;
    // jose checks exp, and that iat is a number, but not that the token was issued as we issue them.
    if (iat > this.clock.now().getTime() / 1000 + CLOCK_SKEW_SECONDS) return undefined;
    if (exp - iat > this.lifetimeSeconds(type) + CLOCK_SKEW_SECONDS) return undefined;
    // Frozen: a verified access token's claims are shared by every later use of the token.
    const claims: TokenClaims = Object.freeze({
      userId,
      username: sub,
      jti,
      sessionId: sid,
      sessionVersion: ver,
      expiresAt: new Date(exp * 1000),
    });
    if (type === 'access') this.#remember(token, { claims, iat, exp });
    return claims;
  }

  #remember(token: string, verified: VerifiedAccessToken): void {
    if (this.#verifiedAccess.size >= VERIFIED_ACCESS_TOKENS_MAX) {
      const oldest = this.#verifiedAccess.keys().next().value;
      if (oldest !== undefined) this.#verifiedAccess.delete(oldest);
    }
    this.#verifiedAccess.set(token, verified);
  }

  /**
   * When every access token issued until `now` (by any instance, within the clock skew) will have expired: how long
   * an ended login must stay on the denylist.
   */
  accessTokensExpireBy(now: Date): Date {
    return new Date(now.getTime() + (this.lifetimeSeconds('access') + 2 * CLOCK_SKEW_SECONDS) * 1000);
  }

  private lifetimeSeconds(type: TokenType): number {
    return type === 'access'
      ? this.settings.accessTokenMinutes * 60
      : this.settings.refreshTokenDays * 86_400;
  }

  private sign(user: TokenSubject, sessionId: string, type: TokenType, now: Date, seconds: number) {
    const issuedAt = Math.floor(now.getTime() / 1000);
    return new SignJWT({
      user_id: user.id,
      email: user.email,
      type,
      sid: sessionId,
      ver: user.sessionVersion,
    })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(user.username)
      .setJti(randomUUID())
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + seconds)
      .setIssuer(this.settings.issuer)
      .setAudience(this.settings.audience)
      .sign(this.key);
  }
}
