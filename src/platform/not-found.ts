// What happens when no route matches: the original's trailing-slash redirect (307 to the slashed collection path,
// method and query kept), 405 with Allow when the path exists under another method, else 404 {"detail":"Not Found"}.
//
// Fastify answers 404 for a wrong method and does not expose its router, so every route is mirrored into a
// find-my-way router of our own (the same library Fastify routes with) to ask "does this path exist at all?".
import type { FastifyPluginAsync } from 'fastify';
import type { HTTPMethod } from 'find-my-way';
import fp from 'fastify-plugin';
import Router from 'find-my-way';
import { errorBody } from './error-handler.js';

const noop = () => undefined;

const notFoundPlugin: FastifyPluginAsync = async (app) => {
  const mirror = Router({ ignoreTrailingSlash: false, caseSensitive: true });
  const methodsByPattern = new Map<string, Set<string>>();

  app.addHook('onRoute', (route) => {
    // Catch-alls (CORS's `OPTIONS *` preflight route) match every path and would turn every 404 into a 405.
    if (route.url === '*' || route.url === '/*') return;
    const methods = (Array.isArray(route.method) ? route.method : [route.method]) as string[];
    for (const method of methods) {
      const known = methodsByPattern.get(route.url) ?? new Set<string>();
      if (known.has(method.toUpperCase())) continue;
      known.add(method.toUpperCase());
      methodsByPattern.set(route.url, known);
      mirror.on(method.toUpperCase() as HTTPMethod, route.url, noop);
    }
  });

  const allowedMethods = (path: string): string[] => {
    const allowed: string[] = [];
    for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const) {
      if (mirror.find(method, path)) allowed.push(method);
    }
    return allowed;
  };

  app.setNotFoundHandler((request, reply) => {
    const [path = '/', query] = splitOnce(originForm(request.url), '?');
    if (!path.endsWith('/') && mirror.find(request.method as HTTPMethod, `${path}/`)) {
      // Our own path, never another host: "//evil.example/x" would be read as one by a browser.
      const slashed = `/${path.replace(/^[/\\]+/, '')}/`;
      const target = query === undefined ? slashed : `${slashed}?${query}`;
      return reply.redirect(target, 307);
    }
    const allowed = allowedMethods(path);
    if (allowed.length > 0) {
      return reply
        .code(405)
        .header('allow', allowed.join(', '))
        .send(errorBody(request, 'Method Not Allowed', 'method_not_allowed'));
    }
    return reply.code(404).send(errorBody(request, 'Not Found', 'not_found'));
  });
};

/**
 * The path and query of a request target. A request line may name a whole URL (the absolute form, RFC 9112 3.2.2:
 * `GET http://host/path HTTP/1.1`), which the router reads as its path; the host in it is the client's word, not
 * ours, and a redirect built from it would send the client there.
 */
function originForm(target: string): string {
  if (target.startsWith('/')) return target;
  try {
    const url = new URL(target);
    return `${url.pathname}${url.search}`;
  } catch {
    return '/';
  }
}

function splitOnce(value: string, separator: string): [string, string | undefined] {
  const at = value.indexOf(separator);
  return at === -1 ? [value, undefined] : [value.slice(0, at), value.slice(at + 1)];
}

export default fp(notFoundPlugin, { name: 'not-found' });
