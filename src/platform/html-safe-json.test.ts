// The encoder alone: the six characters escaped, everything else as JSON.stringify wrote it, and JSON.parse giving
// back the exact text.
import { describe, expect, it } from 'vitest';
import { htmlSafeJson, htmlSafeJsonBytes, isJsonContentType, stringifyHtmlSafe } from './html-safe-json.js';

const RAW_UNSAFE = /[<>&'\u2028\u2029]/;

describe('htmlSafeJson', () => {
  it.each([
    ['<', '\\u003c'],
    ['>', '\\u003e'],
    ['&', '\\u0026'],
    ["'", '\\u0027'],
    ['\u2028', '\\u2028'],
    ['\u2029', '\\u2029'],
  ])('writes %j as %s', (character, escape) => {
    const json = htmlSafeJson(JSON.stringify({ text: `a${character}b` }));
    expect(json).toBe(`{"text":"a${escape}b"}`);
    expect(JSON.parse(json)).toEqual({ text: `a${character}b` });
  });

  it('gives back markup, code and quotes exactly', () => {
    const value = {
      html: `<script>alert('x')</script>`,
      code: 'if (a < b && c > d) { return "it\'s"; }',
      entity: '&amp; &lt;div&gt; &#39;',
      keys: { "<b class='x'>": ['&', '<', '>'] },
    };
    const json = htmlSafeJson(JSON.stringify(value));
    expect(json).not.toMatch(RAW_UNSAFE);
    expect(JSON.parse(json)).toEqual(value);
  });

  it('leaves text without the six characters as it is (the same string)', () => {
    const json = JSON.stringify({ status: 'healthy', emoji: '😀', accents: 'éàü', quote: '"\\' });
    expect(htmlSafeJson(json)).toBe(json);
  });

  it('keeps astral characters as their surrogate pairs', () => {
    const value = { text: '<😀𝒳>' };
    const json = htmlSafeJson(JSON.stringify(value));
    expect(json).toBe('{"text":"\\u003c😀𝒳\\u003e"}');
    expect(JSON.parse(json)).toEqual(value);
  });

  it('keeps lone surrogates as JSON.stringify writes them (escaped), next to escaped markup', () => {
    const value = { text: '\uD800<\uDC00&' };
    const written = JSON.stringify(value);
    expect(written).toBe('{"text":"\\ud800<\\udc00&"}');
    const json = htmlSafeJson(written);
    expect(json).toBe('{"text":"\\ud800\\u003c\\udc00\\u0026"}');
    expect(JSON.parse(json)).toEqual(value);
  });

  it('keeps a literal backslash-u003c in the text distinct from "<"', () => {
    const value = { literal: '\\u003c', real: '<' };
    const json = htmlSafeJson(JSON.stringify(value));
    expect(json).toBe('{"literal":"\\\\u003c","real":"\\u003c"}');
    expect(JSON.parse(json)).toEqual(value);
  });

  it('stringifyHtmlSafe is JSON.stringify plus the encoding', () => {
    const value = { event: 'token', text: "a & b\u2028c <i>'" };
    const line = stringifyHtmlSafe(value);
    expect(line).not.toMatch(RAW_UNSAFE);
    expect(line).not.toContain('\n');
    expect(JSON.parse(line)).toEqual(value);
  });
});

describe('htmlSafeJsonBytes', () => {
  it('escapes the same characters in UTF-8 bytes', () => {
    const value = { text: "<é>&'\u2028\u2029😀" };
    const bytes = htmlSafeJsonBytes(Buffer.from(JSON.stringify(value), 'utf8'));
    const text = bytes.toString('utf8');
    expect(text).not.toMatch(RAW_UNSAFE);
    expect(text).toBe(htmlSafeJson(JSON.stringify(value)));
    expect(JSON.parse(text)).toEqual(value);
  });

  it('returns the same Buffer when there is nothing to escape', () => {
    const bytes = Buffer.from('{"a":"é😀"}', 'utf8');
    expect(htmlSafeJsonBytes(bytes)).toBe(bytes);
  });

  it('leaves bytes that are not UTF-8 untouched around the escapes', () => {
    const bytes = Buffer.from([0x22, 0xff, 0x3c, 0xe2, 0x80, 0x22]);
    expect([...htmlSafeJsonBytes(bytes)]).toEqual([0x22, 0xff, ...Buffer.from('\\u003c'), 0xe2, 0x80, 0x22]);
  });
});

describe('isJsonContentType', () => {
  it.each([
    ['application/json', true],
    ['application/json; charset=utf-8', true],
    ['Application/JSON;charset=UTF-8', true],
    ['application/problem+json', true],
    ['application/vnd.api+json; charset=utf-8', true],
    ['application/json ; charset=utf-8', true],
    ['text/event-stream; charset=utf-8', false],
    ['text/html; charset=utf-8', false],
    ['text/plain', false],
    ['application/jsonp', false],
    ['application/x-ndjson', false],
    ['application/octet-stream', false],
    [undefined, false],
  ])('%s → %s', (contentType, expected) => {
    expect(isJsonContentType(contentType)).toBe(expected);
  });
});
