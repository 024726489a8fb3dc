// HTML-safe JSON (issue 10, "safety by encoding, not by destroying"): every JSON body and SSE `data:` line leaves the
// server with `<` `>` `&` `'` written as \u003c \u003e \u0026 \u0027 and U+2028/U+2029 as \u2028/\u2029, as Go's
// encoding/json and PHP's JSON_HEX_* flags write them. A page that drops such a body into HTML or a <script> finds no
// markup and no JavaScript line terminator in it, and JSON.parse still gives back exactly what a user or a model
// wrote.
//
// Outside its strings, JSON text holds only structural characters, digits, literals and whitespace, and none of the
// six characters can occur inside an escape sequence, so replacing them in serialized text is exact. One onSend hook
// does it for every JSON answer (route schemas' fast-json-stringify output, error bodies, the 404 handler), before
// @fastify/compress (whose onSend hook is a route-level one, which Fastify runs after the instance-level ones), and
// Fastify then sets Content-Length from the longer text.
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';

const UNSAFE = /[<>&'\u2028\u2029]/;
const UNSAFE_ALL = /[<>&'\u2028\u2029]/g;
const ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  "'": '\\u0027',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};
const escapeOf = (character: string): string => ESCAPES[character] ?? character;

/** JSON text with the six characters escaped. Not idempotent: it is applied once, to text JSON.stringify wrote. */
export function htmlSafeJson(json: string): string {
  // Most bodies hold none of them: one test, and the same string back.
  return UNSAFE.test(json) ? json.replace(UNSAFE_ALL, escapeOf) : json;
}

/** JSON.stringify, HTML-safe: what an SSE `data:` line carries. */
export function stringifyHtmlSafe(value: unknown): string {
  return htmlSafeJson(JSON.stringify(value));
}

// Read byte by byte (latin1 maps each byte to one code unit): in UTF-8, the four ASCII characters never occur inside a
// multi-byte sequence and E2 80 A8/A9 are U+2028/U+2029 only, so bytes that are not valid UTF-8 are left as they are.
const UNSAFE_UTF8 = /[<>&']|\xE2\x80[\xA8\xA9]/;
const UNSAFE_UTF8_ALL = /[<>&']|\xE2\x80[\xA8\xA9]/g;
const UTF8_ESCAPES: Record<string, string> = {
  ...ESCAPES,
  '\xE2\x80\xA8': '\\u2028',
  '\xE2\x80\xA9': '\\u2029',
};

/** The same for JSON held as UTF-8 bytes. */
export function htmlSafeJsonBytes(json: Buffer): Buffer {
  const bytes = json.toString('latin1');
  if (!UNSAFE_UTF8.test(bytes)) return json;
  return Buffer.from(
    bytes.replace(UNSAFE_UTF8_ALL, (match) => UTF8_ESCAPES[match] ?? match),
    'latin1',
  );
}

/** application/json and any `+json` type (application/problem+json…), whatever its parameters. */
const JSON_TYPE = /^[^/;\s]+\/(?:[^;\s]*\+)?json\s*(?:;|$)/i;
/** A charset other than UTF-8 (JSON's only one, RFC 8259 §8.1): bytes in it are not read as UTF-8. */
const OTHER_CHARSET = /;\s*charset\s*=\s*"?(?!utf-?8\b)[^;\s"]/i;

/** Bytes already compressed by the route are not JSON text. */
const isIdentity = (encoding: unknown): boolean => encoding === undefined || encoding === 'identity';

export function isJsonContentType(contentType: unknown): boolean {
  return typeof contentType === 'string' && JSON_TYPE.test(contentType);
}

const htmlSafeJsonPlugin: FastifyPluginAsync = async (app) => {
  // A callback hook: no promise per answer.
  app.addHook('onSend', (_request, reply, payload, done) => {
    const contentType = reply.getHeader('content-type');
    if (!isJsonContentType(contentType)) return done(null, payload);
    if (typeof payload === 'string') return done(null, htmlSafeJson(payload));
    // Streams (and server-sent events, which sse.ts encodes frame by frame) go as they are.
    if (
      Buffer.isBuffer(payload) &&
      isIdentity(reply.getHeader('content-encoding')) &&
      !OTHER_CHARSET.test(contentType as string)
    ) {
      return done(null, htmlSafeJsonBytes(payload));
    }
    done(null, payload);
  });
};

export default fp(htmlSafeJsonPlugin, { name: 'html-safe-json' });
