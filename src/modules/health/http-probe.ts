// Health probes of the services that speak HTTP (ChromaDB, Qdrant, FAISS, Consul, Kong and the LLM server): a GET of
// the service's own health path through undici, with the round's abort signal.
import { request, type Dispatcher } from 'undici';
import { ProbeFailure, type ServiceProbe } from './service-probe.js';

/** A health answer is small; more than this is read no further. */
const MAX_BODY_BYTES = 64 * 1024;

export interface HttpProbeOptions {
  /** Paths tried in order: the next only when the service answers 404 to one (an older API version). */
  paths: string[];
  headers?: Record<string, string>;
  /** Checks a 2xx answer's body; throws a ProbeFailure when the service is up but not well. */
  acceptBody?: (body: string) => void;
}

/**
 * `base` joined with `path` below its own path (a service mounted at https://host/kong-admin keeps that prefix).
 * Credentials in the URL go out as basic authentication: undici refuses them in the URL itself.
 */
export function requestTarget(base: URL, path: string): { url: URL; authorization?: string } {
  const url = new URL(path.replace(/^\//, ''), base.href.endsWith('/') ? base : new URL(`${base.href}/`));
  if (url.username === '' && url.password === '') return { url };
  const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  url.username = '';
  url.password = '';
  return { url, authorization: `Basic ${Buffer.from(credentials).toString('base64')}` };
}

/**
 * Reads up to `limit` bytes of an answer. Unlike undici's dump(), which settles quietly when the connection breaks,
 * it rejects when the body ends early: a 200 cut off mid-body is no healthy answer.
 */
export async function readAtMost(body: Dispatcher.ResponseData['body'], limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= limit) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

export function httpProbe(dispatcher: Dispatcher, baseUrl: string, options: HttpProbeOptions): ServiceProbe {
  const base = new URL(baseUrl);
  return {
    async check(signal) {
      for (const [index, path] of options.paths.entries()) {
        const { url, authorization } = requestTarget(base, path);
        const headers = { ...options.headers, ...(authorization ? { authorization } : {}) };
        const { statusCode, body } = await request(url, { method: 'GET', dispatcher, signal, headers });
        if (statusCode === 404 && index < options.paths.length - 1) {
          await body.dump();
          continue;
        }
        if (statusCode < 200 || statusCode > 299) {
          await body.dump();
          throw new ProbeFailure(`HTTP ${statusCode}`);
        }
        const text = await readAtMost(body, MAX_BODY_BYTES);
        options.acceptBody?.(text);
        return;
      }
    },
  };
}

/** Consul answers 200 with "" while the cluster has no leader: up, but unable to serve. */
export function consulHasLeader(body: string): void {
  let leader: unknown;
  try {
    leader = JSON.parse(body);
  } catch {
    throw new ProbeFailure('unexpected answer');
  }
  if (typeof leader !== 'string' || leader === '') throw new ProbeFailure('no leader');
}
