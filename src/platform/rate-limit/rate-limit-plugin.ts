// Rate limits for the whole server: decorates `app.rateLimits` (the named limiters modules use) and, unless
// RATE_LIMIT_PER_MINUTE is 0, the general limit: one budget per identity over every /api/v1 route but health,
// checked in onRequest (before the body is read), its headers on every answer it applies to.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../config.js';
import type { Clock } from '../../lib/clock.js';
import { addressKey } from '../client-address.js';
import type { RateLimitPolicy } from './policy.js';
import { setRateLimitHeaders } from './rate-limit-headers.js';
import { RateLimitExceededError } from './rate-limiter.js';
import { RateLimits } from './rate-limits.js';

declare module 'fastify' {
  interface FastifyInstance {
    rateLimits: RateLimits;
  }
}

export interface RateLimitPluginOptions {
  config: Config['rateLimit'];
  /**
   * The user a request's access token names, as `user:<id>`, once the token is verified (signature, expiry,
   * issuer); undefined for no token or an invalid one. The auth module provides it.
   */
  identifyUser: (request: FastifyRequest) => Promise<string | undefined>;
  clock: Clock;
  /** Tests only: the clock of the Redis store (unset: Redis's TIME). */
  redisClock?: Clock | undefined;
}

const API_PREFIX = '/api/v1';
const HEALTH_PREFIX = '/api/v1/health';
/** The original's root-level chat WebSocket: its upgrades count like those of /api/v1/chat/ws. */
const ROOT_WEBSOCKET = '/ws';

/**
 * Whether the general limit applies: /api/v1 (matched or not, so scanning for routes counts), but not health; and
 * the root WebSocket path.
 */
function isLimitedPath(request: FastifyRequest): boolean {
  // The route's pattern when one matched: a path the router would also match in another spelling counts the same.
  const url = request.routeOptions.url ?? request.url;
  const path = url.split('?', 1)[0] as string;
  const under = (prefix: string) => path === prefix || path.startsWith(`${prefix}/`);
  return path === ROOT_WEBSOCKET || (under(API_PREFIX) && !under(HEALTH_PREFIX));
}

/** The general limit's policy: RATE_LIMIT_PER_MINUTE in any 60 s, RATE_LIMIT_BURST at once. */
export function generalPolicy(config: Config['rateLimit']): RateLimitPolicy | undefined {
  if (config.perMinute === 0) return undefined;
  return { limit: config.perMinute, windowMs: 60_000, burst: config.burst === 0 ? undefined : config.burst };
}

const rateLimitPlugin: FastifyPluginAsync<RateLimitPluginOptions> = async (app, opts) => {
  const { config } = opts;
  const rateLimits = new RateLimits({
    redis: app.redis?.client,
    clock: opts.clock,
    redisClock: opts.redisClock,
    memoryMaxIdentities: config.memoryMaxIdentities,
    redisTimeoutMs: config.redisTimeoutMs,
    registry: app.metrics.registry,
    log: app.log.child({ module: 'rate-limit' }),
  });
  app.decorate('rateLimits', rateLimits);

  const policy = generalPolicy(config);
  if (!policy) return;
  const general = rateLimits.limiter('general', policy);
  app.addHook('onRequest', async (request, reply) => {
    // A CORS preflight is the browser's, not the page's: it must not halve a browser client's budget.
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined)
      return;
    if (!isLimitedPath(request)) return;
    const identity = (await opts.identifyUser(request)) ?? addressKey(request);
    const decision = await general.take(identity);
    if (!decision) return;
    setRateLimitHeaders(reply, general.name, policy, decision);
    if (!decision.allowed) throw new RateLimitExceededError(decision);
  });
};

export default fp(rateLimitPlugin, { name: 'rate-limit', dependencies: ['redis', 'metrics'] });
