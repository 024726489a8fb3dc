// Composition of the auth module: repositories, then services, then the hooks every module uses and the routes
// under /api/v1/auth. Registered after the database, Redis, metrics and mail plugins.
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../config.js';
import type { Clock } from '../../lib/clock.js';
import { transactor } from '../../platform/db/transactions.js';
import { BackgroundTasks } from '../../lib/background-tasks.js';
import { AccountService } from './account.service.js';
import { SessionDenylist } from './access-denylist.js';
import { ExpiredTokenCleaner } from './expired-token-cleaner.js';
import { createAuthMetrics } from './auth.metrics.js';
import { authRoutes } from './auth.routes.js';
import { registerAuthHooks } from './authenticate.js';
import { LoginLockRepository } from './login-lock.repository.js';
import { LoginLockService } from './login-lock.service.js';
import { BcryptPasswordHasher } from './password-hasher.js';
import { SessionService } from './session.service.js';
import {
  OneTimeTokenRepository,
  RefreshTokenRepository,
  RevokedAccessTokenRepository,
  RevokedSessionRepository,
} from './token.repository.js';
import { tokenServiceFor } from './token.service.js';
import { UserAdminService } from './user-admin.service.js';
import { UserRepository } from './user.repository.js';
import { userAdminRoutes } from './users.routes.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The mail work auth requests do after answering; the app's close waits for it, tests may too (settled()). */
    authTasks: BackgroundTasks;
  }
}

export interface AuthPluginOptions {
  auth: Config['auth'];
  rateLimit: Config['rateLimit'];
  frontendUrl: string;
  clock: Clock;
  prefix?: string;
}

const CLEANUP_INTERVAL_MS = 60 * 60_000;
const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

const authPlugin: FastifyPluginAsync<AuthPluginOptions> = async (app, opts) => {
  const { auth, clock } = opts;
  const log = app.log.child({ module: 'auth' });
  if (!auth.jwtSecret)
    throw new Error('auth: no JWT secret (withRuntimeSecrets() fills one in outside production)');
  const db = app.database.db;
  const transact = transactor(db);
  const users = new UserRepository(db);
  const refreshTokens = new RefreshTokenRepository(db);
  const oneTimeTokens = new OneTimeTokenRepository(db);
  const metrics = createAuthMetrics(app.metrics.registry);
  const hasher = new BcryptPasswordHasher(auth.bcryptRounds);
  const tokens = tokenServiceFor({ ...auth, jwtSecret: auth.jwtSecret }, clock);
  const revokedAccessTokens = new RevokedAccessTokenRepository(db);
  // In the database even with Redis: see access-denylist.ts.
  const denylist = new SessionDenylist(new RevokedSessionRepository(db), clock);
  const loginLocks = new LoginLockService({
    locks: new LoginLockRepository(db),
    clock,
    metrics,
    settings: { lockoutThreshold: auth.lockoutThreshold, lockoutMinutes: auth.lockoutMinutes },
  });
  const sessions = new SessionService({
    transact,
    users,
    refreshTokens,
    tokens,
    hasher,
    loginLocks,
    denylist,
    clock,
    metrics,
    settings: { requireEmailVerification: auth.requireEmailVerification },
  });
  const limits = opts.rateLimit;
  /** A limit of `limit` per `windowMs`, on the shared limiter; off when its setting is 0. */
  const limiter = (name: string, limit: number, windowMs: number) =>
    app.rateLimits.limiter(name, limit === 0 ? undefined : { limit, windowMs });
  const background = new BackgroundTasks(log);
  app.decorate('authTasks', background);
  const accounts = new AccountService({
    transact,
    users,
    oneTimeTokens,
    sessions,
    loginLocks,
    hasher,
    outbox: app.mailOutbox,
    clock,
    metrics,
    settings: {
      frontendUrl: opts.frontendUrl,
      passwordResetMinutes: auth.passwordResetMinutes,
      emailVerificationHours: auth.emailVerificationHours,
    },
    addressLimiter: limiter('mail_address', auth.mailPerAddressPerHour, HOUR_MS),
    background,
  });
  const admin = new UserAdminService({ transact, users, sessions, loginLocks, clock });
  const mailLimiter = limiter('mail', limits.mailPerMinute, MINUTE_MS);

  const cleaner = new ExpiredTokenCleaner({
    refreshTokens,
    oneTimeTokens,
    revokedAccessTokens,
    clock,
    loginLocks,
    logger: log,
    intervalMs: CLEANUP_INTERVAL_MS,
  });
  app.addHook('onReady', async () => {
    cleaner.start();
    // The first unknown-user login would otherwise pay for making the dummy hash on top of comparing with it.
    void hasher.prepare();
  });
  app.addHook('onClose', () => cleaner.stop());
  // Runs before the mail and database plugins close (onClose runs in reverse order of registration).
  app.addHook('onClose', () => background.settled());

  registerAuthHooks(app, sessions);
  const prefix = opts.prefix ?? '/api/v1/auth';
  await app.register(authRoutes, {
    prefix,
    sessions,
    accounts,
    mailLimiter,
    registerLimiter: limiter('register', limits.registerPerHour, HOUR_MS),
    loginFailureLimiter: limiter(
      'login_failures',
      limits.loginFailures,
      limits.loginWindowMinutes * MINUTE_MS,
    ),
  });
  await app.register(userAdminRoutes, { prefix, admin });
};

export default fp(authPlugin, { name: 'auth', dependencies: ['database', 'rate-limit', 'mail'] });
