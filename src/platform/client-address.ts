// The client's address as rate limits and anonymous chat owners key it. With TRUST_PROXY, request.ip is whatever the
// trusted hop's X-Forwarded-For says, and proxy-addr does not check that it is an address: a client behind a proxy
// that passes the header on can put any text there. Such text still names one client (the same junk, the same key),
// but as a short digest, so that no key outgrows the columns and Redis keys built from it.
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { FastifyRequest } from 'fastify';

/** Longer than any IPv6 address with a sane zone id; a zone id can be of any length. */
const MAX_ADDRESS_LENGTH = 64;

export function clientAddress(request: Pick<FastifyRequest, 'ip'>): string {
  const ip = request.ip;
  if (isIP(ip) !== 0 && ip.length <= MAX_ADDRESS_LENGTH) return ip;
  return `unparsed-${createHash('sha256').update(ip).digest('hex')}`;
}

/** The key per-client limits count a caller without a (valid) token under: `ip:<address>`. */
export function addressKey(request: Pick<FastifyRequest, 'ip'>): string {
  return `ip:${clientAddress(request)}`;
}
