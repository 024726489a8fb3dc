// Logins, refresh-token rotation with reuse detection, logout, and the check behind every authenticated request.
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../lib/clock.js';
import type { Transact, Tx } from '../../platform/db/transactions.js';
import type { SessionDenylist } from './access-denylist.js';
import { emailNotVerified, inactiveUser, invalidRefreshToken, invalidToken } from './auth.errors.js';
import type { AuthMetrics } from './auth.metrics.js';
import type { LoginLockService } from './login-lock.service.js';
import type { PasswordHasher } from './password-hasher.js';
import type { RefreshTokenRepository } from './token.repository.js';
import { hashToken, type IssuedPair, type TokenClaims, type TokenService } from './token.service.js';
import type { UserRecord, UserRepository } from './user.repository.js';

export interface SessionSettings {
  requireEmailVerification: boolean;
}

export interface SessionServiceDeps {
  transact: Transact;
  users: UserRepository;
  refreshTokens: RefreshTokenRepository;
  tokens: TokenService;
  hasher: PasswordHasher;
  loginLocks: LoginLockService;
  denylist: SessionDenylist;
  clock: Clock;
  metrics: AuthMetrics;
  settings: SessionSettings;
}

/** The user behind a valid access token, and the token's own claims (for logout). */
export interface Authenticated {
  user: UserRecord;
  token: TokenClaims;
}

export class SessionService {
  constructor(private readonly deps: SessionServiceDeps) {}

  /** `login` is a username or an email address. */
  async login(login: string, password: string): Promise<IssuedPair> {
    const { users, hasher, loginLocks, clock, metrics, settings } = this.deps;
    const user = await users.findByLogin(login);
    // An account locks under its username whatever name reached it; an unknown name locks under itself, through
    // the same statements (login-lock.service.ts).
    const lockName = user?.username ?? login;
    await loginLocks.reserve(lockName);
    metrics.passwordCheck();
    const correct = await loginLocks.orRelease(lockName, () =>
      user ? hasher.verify(password, user.hashedPassword) : hasher.verifyDummy(password).then(() => false),
    );
    if (!user || !correct) return loginLocks.fail(lockName);
    await loginLocks.succeed(lockName);
    const now = clock.now();
    // Only after the password: a stranger learns nothing about the account's state.
    if (!user.isActive) {
      metrics.login('inactive');
      throw inactiveUser();
    }
    if (settings.requireEmailVerification && !user.isVerified) {
      metrics.login('unverified');
      throw emailNotVerified();
    }
    const rehashed = hasher.needsRehash(user.hashedPassword) ? await hasher.hash(password) : undefined;
    // Signed before the transaction: signing waits for libuv's thread pool, busy with other logins' bcrypt, and
    // on SQLite the transaction holds the only connection meanwhile.
    const pair = await this.deps.tokens.issuePair(user, randomUUID());
    await this.deps.transact(async (tx) => {
      await users.recordLogin(user.id, now, rehashed, tx);
      await this.store(user, pair, now, tx);
    });
    metrics.login('success');
    return pair;
  }

  /**
   * Exchanges a refresh token for a new pair; the presented token stops working. Presenting a token that was already
   * exchanged means it leaked (or a client replays it): the whole family is revoked, so the thief's copy dies too.
   */
  async refresh(refreshToken: string): Promise<IssuedPair> {
    const { users, refreshTokens, tokens, clock, metrics } = this.deps;
    const claims = await tokens.verify(refreshToken, 'refresh');
    const record = claims && (await refreshTokens.findByHash(hashToken(refreshToken)));
    if (!claims || !record || record.userId !== claims.userId) {
      metrics.refresh('invalid');
      throw invalidRefreshToken();
    }
    const now = clock.now();
    if (record.revokedAt || record.usedAt) {
      if (!record.revokedAt) await this.revokeForReuse(record.familyId);
      else metrics.refresh('invalid');
      throw invalidRefreshToken(record.revokedAt ? 'invalid_refresh_token' : 'refresh_token_reused');
    }
    const user = await users.findById(record.userId);
    if (!user || !this.isValidFor(user, claims)) {
      metrics.refresh('invalid');
      throw invalidRefreshToken();
    }
    const pair = await tokens.issuePair(user, record.familyId);
    const rotated = await this.deps.transact(async (tx) => {
      // Conditional on the row being unused: of two concurrent refreshes with one token, one wins.
      if (!(await refreshTokens.consume(record.id, now, tx))) return false;
      await this.store(user, pair, now, tx);
      return true;
    });
    if (!rotated) {
      await this.revokeForReuse(record.familyId);
      throw invalidRefreshToken('refresh_token_reused');
    }
    metrics.refresh('success');
    return pair;
  }

  /**
   * Ends the login of this token (its refresh family and every access token issued in it, the older ones and the one
   * presented), or every login of the user.
   */
  async logout(auth: Authenticated, allDevices: boolean): Promise<void> {
    if (allDevices) await this.revokeAllSessions(auth.user.id);
    else await this.endLogin(auth.token.sessionId);
    this.deps.metrics.logout(allDevices ? 'all_devices' : 'session');
  }

  /**
   * Revokes every refresh token and every access token of the user (password reset, admin, logout everywhere), in
   * the caller's transaction `tx`, or in one of its own: both revocations or neither.
   */
  async revokeAllSessions(userId: number, tx?: Tx): Promise<void> {
    if (tx === undefined) return this.deps.transact((own) => this.revokeAllSessions(userId, own));
    const now = this.deps.clock.now();
    await this.deps.refreshTokens.revokeAllOfUser(userId, now, tx);
    await this.deps.users.bumpSessionVersion(userId, tx);
  }

  /** The user of a valid, unrevoked access token; throws 401 otherwise. */
  async authenticate(accessToken: string): Promise<Authenticated> {
    const { users, tokens } = this.deps;
    const token = await tokens.verify(accessToken, 'access');
    if (!token) throw invalidToken();
    // The user and whether the login has ended, in one statement (see access-denylist.ts for why not Redis).
    const found = await users.findWithLogin(token.userId, token.sessionId);
    if (!found || found.loginEnded || !this.isValidFor(found.user, token)) throw invalidToken();
    return { user: found.user, token };
  }

  /**
   * Whether a signed token still speaks for `user`: active, not logged out everywhere since, and naming the same
   * account in `sub` as in `user_id` (usernames never change, so a mismatch is a forged or confused token).
   */
  private isValidFor(user: UserRecord, token: TokenClaims): boolean {
    return user.isActive && user.sessionVersion === token.sessionVersion && user.username === token.username;
  }

  /** Records the new refresh token in its login's family; only its hash is stored. */
  private async store(user: UserRecord, pair: IssuedPair, now: Date, tx: Tx): Promise<void> {
    await this.deps.refreshTokens.insert(
      {
        userId: user.id,
        familyId: pair.sessionId,
        tokenHash: hashToken(pair.refreshToken),
        issuedAt: now,
        expiresAt: pair.refreshExpiresAt,
      },
      tx,
    );
    this.deps.metrics.tokensIssued('access');
    this.deps.metrics.tokensIssued('refresh');
  }

  /** A replayed refresh token ends its whole login, access tokens included: the thief's copies die with it. */
  private async revokeForReuse(familyId: string): Promise<void> {
    await this.endLogin(familyId);
    this.deps.metrics.refresh('reuse_detected');
  }

  /** Ends one login: its refresh family and, durably, every access token issued in it, in one transaction. */
  private async endLogin(sessionId: string): Promise<void> {
    const { refreshTokens, denylist, tokens, clock } = this.deps;
    const now = clock.now();
    await this.deps.transact(async (tx) => {
      await refreshTokens.revokeFamily(sessionId, now, tx);
      await denylist.revoke(sessionId, tokens.accessTokensExpireBy(now), tx);
    });
    await denylist.purgeExpired();
  }
}
