// The streaming JSON check agrees with JSON.parse, whole and split at every byte.
import { describe, expect, it } from 'vitest';
import { JsonSyntaxChecker, MAX_JSON_DEPTH, isJsonText } from './json-syntax.js';

const parses = (text: string) => {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
};

const CASES = [
  '{}',
  '[]',
  ' \n\t\r{ "a" : [1, -2, 3.5e10, 0, -0.0, 1E+2, 2e-3, true, false, null, "x\\"y\\\\\\/\\b\\f\\n\\r\\t\\u00e9"] } ',
  '"just a string"',
  '0',
  '-12.5e3',
  '42 ',
  'true',
  'null',
  '{"a":{"b":{"c":[[[]]]}}}',
  '"ünï \u{1F600}"',
  '{"k":1,"k2":[{},{"z":null}]}',
  // Invalid:
  '',
  ' ',
  '{',
  '}',
  '[1,]',
  '[,1]',
  '{"a":1,}',
  '{"a" 1}',
  '{a:1}',
  "{'a':1}",
  '01',
  '-',
  '1.',
  '.5',
  '1e',
  '1e+',
  '+1',
  'tru',
  'truex',
  'nul',
  'NaN',
  'Infinity',
  '"unterminated',
  '"bad \\x escape"',
  '"\\u12G4"',
  '"tab\tinside"',
  '[1 2]',
  '{} {}',
  '1 2',
  '[}',
  '{]',
  '\ufeff{}',
  '[1,2]]',
  '{"a":1}}',
  '// comment\n{}',
];

describe('JsonSyntaxChecker', () => {
  it.each(CASES)('agrees with JSON.parse on %j', (text) => {
    const bytes = Buffer.from(text, 'utf8');
    expect(isJsonText(bytes)).toBe(parses(text));
    // Split at every position: the answer does not depend on where chunks end.
    for (let at = 0; at <= bytes.length; at++) {
      const checker = new JsonSyntaxChecker();
      checker.push(bytes.subarray(0, at));
      checker.push(bytes.subarray(at));
      expect(checker.end(), `split at ${at}`).toBe(parses(text));
    }
  });

  it('checks a large document byte by byte as in one piece', () => {
    const text = JSON.stringify({
      rows: Array.from({ length: 2000 }, (_, i) => ({ i, s: `v${i}\n`, f: i / 7 })),
    });
    const bytes = Buffer.from(text);
    const checker = new JsonSyntaxChecker();
    for (let i = 0; i < bytes.length; i += 977) checker.push(bytes.subarray(i, i + 977));
    expect(checker.end()).toBe(true);
    expect(isJsonText(bytes.subarray(0, bytes.length - 1))).toBe(false);
  });

  it('takes nesting deeper than its limit as not JSON', () => {
    expect(isJsonText(Buffer.from('['.repeat(1000) + ']'.repeat(1000)))).toBe(true);
    const deep = MAX_JSON_DEPTH + 1;
    expect(isJsonText(Buffer.from('['.repeat(deep) + ']'.repeat(deep)))).toBe(false);
  });
});
