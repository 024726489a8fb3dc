// The route side of anonymous chat owners: who is asking, from the request. A signed-in caller is its user (a cookie
// is ignored). An anonymous one is the id of its signed `sutazai_anon` cookie, set on its first chat; until it sends
// that cookie back (or when it keeps none) it is known by its address, as TRUST_PROXY resolves it (client-address.ts).
import { createHmac, randomBytes } from 'node:crypto';
import fastifyCookie from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { clientAddress } from '../../platform/client-address.js';
import { UnauthorizedError } from '../../platform/errors.js';
import { anonymousOwner, userOwner, type ChatOwner } from './chat-owner.js';

export const ANONYMOUS_COOKIE = 'sutazai_anon';
/** Browsers cap a cookie's lifetime at 400 days. */
const MAX_AGE_SECONDS = 400 * 24 * 60 * 60;
/** 128 random bits, base64url: what this server mints, and so all that a valid signature can cover. */
const COOKIE_ID = /^[A-Za-z0-9_-]{22}$/;

/**
 * Registers @fastify/cookie in the chat's scope, signing with a key of its own derived from the JWT secret (a
 * cookie's signature then never doubles as anything else signed with that secret).
 */
export async function registerAnonymousCookie(app: FastifyInstance, jwtSecret: string): Promise<void> {
  const secret = createHmac('sha256', jwtSecret).update('sutazai chat anonymous owner cookie').digest();
  await app.register(fastifyCookie, { secret });
}

/** The id in a valid signed cookie; a missing, unsigned, tampered or malformed one is no cookie. */
function cookieId(request: FastifyRequest): string | null {
  const raw = request.cookies[ANONYMOUS_COOKIE];
  if (raw === undefined) return null;
  const unsigned = request.unsignCookie(raw);
  return unsigned.valid && COOKIE_ID.test(unsigned.value) ? unsigned.value : null;
}

/** The caller of a chat route, and for an anonymous one without a valid cookie the cookie id minted for it. */
export interface ResolvedOwner {
  owner: ChatOwner;
  /** Set with `setOwnerCookie` once a session of this id exists: null when the caller has a valid cookie or a user. */
  mintedId: string | null;
}

/**
 * The caller of a chat route. Anonymous callers are refused (401) unless anonymous chat is allowed. An anonymous
 * caller without a valid cookie is given a fresh id: the sessions it creates belong to that id and carry its address
 * too, so it continues them with the cookie or without it. Reading, renaming and deleting never store the id.
 */
export function chatOwner(request: FastifyRequest, allowAnonymous: boolean): ResolvedOwner {
  if (request.auth) return { owner: userOwner(request.auth.user.id), mintedId: null };
  if (!allowAnonymous) throw new UnauthorizedError();
  const id = cookieId(request);
  if (id !== null) return { owner: anonymousOwner(id, null), mintedId: null };
  const minted = randomBytes(16).toString('base64url');
  return { owner: anonymousOwner(minted, clientAddress(request)), mintedId: minted };
}

export function setOwnerCookie(request: FastifyRequest, reply: FastifyReply, id: string): void {
  reply.setCookie(ANONYMOUS_COOKIE, id, {
    signed: true,
    httpOnly: true,
    sameSite: 'lax',
    path: '/api/v1/chat',
    secure: request.protocol === 'https',
    maxAge: MAX_AGE_SECONDS,
  });
}
