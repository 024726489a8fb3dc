// Who the general rate limit counts: the user of a verified access token (signature, issuer, audience, expiry),
// before any route runs. Not the full authentication (no database read): a token that verifies was issued by us for
// that user, so counting its requests against that user is right even if the login has since ended.
import type { FastifyRequest } from 'fastify';
import type { Config } from '../../config.js';
import type { Clock } from '../../lib/clock.js';
import { bearerToken } from './authenticate.js';
import { tokenServiceFor } from './token.service.js';

export function accessTokenIdentity(
  auth: Config['auth'],
  clock: Clock,
): (request: FastifyRequest) => Promise<string | undefined> {
  if (!auth.jwtSecret)
    throw new Error('auth: no JWT secret (withRuntimeSecrets() fills one in outside production)');
  const tokens = tokenServiceFor({ ...auth, jwtSecret: auth.jwtSecret }, clock);
  return async (request) => {
    const token = bearerToken(request);
    if (!token) return undefined;
    const claims = await tokens.verify(token, 'access');
    return claims ? `user:${claims.userId}` : undefined;
  };
}
