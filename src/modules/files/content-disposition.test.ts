import { describe, expect, it } from 'vitest';
import { attachmentDisposition } from './content-disposition.js';

/** The filename* value decoded as a client does. */
function extended(header: string): string {
  const value = /filename\*=UTF-8''(\S+)$/.exec(header)?.[1];
  if (value === undefined) throw new Error(`no filename* in ${header}`);
  return decodeURIComponent(value);
}

describe('attachmentDisposition', () => {
  it('keeps a plain ASCII name in both forms', () => {
    expect(attachmentDisposition('report-2024.pdf')).toBe(
      `attachment; filename="report-2024.pdf"; filename*=UTF-8''report-2024.pdf`,
    );
  });

  it.each([
    'résumé – final.pdf',
    '报告 (草稿).docx',
    'emoji 😀.txt',
    'quote " and \\ backslash.txt',
    "it's 100% *done*.md",
    'semi;colon, comma=equals.csv',
    '../../etc/passwd',
    'tab\tand\u007fdel\u0085nel.txt',
  ])('round-trips %j through filename*, with a safe ASCII fallback', (name) => {
    const header = attachmentDisposition(name);
    expect(extended(header)).toBe(name);
    const fallback = /filename="([^"]*)"/.exec(header)?.[1];
    expect(fallback).toBeDefined();
    expect(fallback).toMatch(/^[\x20-\x7e]*$/);
    expect(fallback).not.toMatch(/["\\]/);
    // Only attr-chars and percent escapes after filename*= (no quote, space, semicolon or comma to break parsing).
    expect(header.split("UTF-8''")[1]).toMatch(/^[A-Za-z0-9!#$&+\-.^_`|~%]+$/);
  });

  it('gives a name of only non-ASCII characters a readable fallback', () => {
    expect(attachmentDisposition('日本語.txt')).toMatch(/^attachment; filename="___\.txt"; /);
    expect(attachmentDisposition('日本')).toMatch(/filename="__"/);
  });
});
