// The short reason an unhealthy service shows: what went wrong, in a few words, never the client's raw message
// (drivers put URLs, user names and hosts in theirs).
import { ProbeFailure } from './service-probe.js';

const BY_CODE: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connect timeout',
  UND_ERR_CONNECT_TIMEOUT: 'connect timeout',
  UND_ERR_HEADERS_TIMEOUT: 'no answer',
  UND_ERR_SOCKET: 'connection closed',
  CERT_HAS_EXPIRED: 'TLS certificate expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'TLS certificate not trusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'TLS certificate not trusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS certificate not trusted',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS certificate for another host',
  // neo4j-driver
  ServiceUnavailable: 'service unavailable',
  SessionExpired: 'session expired',
  'Neo.ClientError.Security.Unauthorized': 'authentication failed',
  'Neo.ClientError.Security.AuthenticationRateLimit': 'authentication rate limited',
};

/** ioredis, pg, amqplib and undici wrap the socket error: the first code found down the chain of causes. */
function codeOf(error: unknown): string | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code in BY_CODE) return code;
    if (current instanceof AggregateError) {
      const inner = current.errors.map(codeOf).find((c) => c !== undefined);
      if (inner) return inner;
    }
    current = current.cause;
  }
  return undefined;
}

export function probeReason(error: unknown): string {
  if (error instanceof ProbeFailure) return error.message;
  // AbortSignal.timeout()'s reason (the Consul calls' own deadline).
  if (error instanceof Error && error.name === 'TimeoutError') return 'timeout';
  const code = codeOf(error);
  if (code !== undefined) return BY_CODE[code] ?? code;
  const message = error instanceof Error ? error.message : '';
  // amqplib's refusals: "Handshake terminated by server: 403 (ACCESS-REFUSED) …", "… 530 (NOT-ALLOWED) …".
  const amqp = /\b(\d{3}) \(([A-Z-]+)\)/.exec(message);
  if (amqp) return `refused: ${amqp[1]} ${amqp[2]}`;
  if (/socket closed|connection closed/i.test(message)) return 'connection closed';
  // amqplib's handshake timeout is a bare "connect ETIMEDOUT" message, without a code.
  if (/\bETIMEDOUT\b/.test(message)) return 'connect timeout';
  return 'failed';
}
