// The password policy of the original (reference §3.5): every rule, in its order, with its exact message; the
// special-character set; the common-password list; and the 72-byte limit that bcrypt imposes.
import { describe, expect, it } from 'vitest';
import { MAX_PASSWORD_BYTES, passwordProblem } from './password-policy.js';

const MESSAGES = {
  empty: 'Password cannot be empty',
  short: 'Password must be at least 8 characters long',
  long: 'Password must be no more than 128 characters long',
  upper: 'Password must contain at least one uppercase letter',
  lower: 'Password must contain at least one lowercase letter',
  digit: 'Password must contain at least one digit',
  special: 'Password must contain at least one special character',
  common: 'Password is too common, please choose a stronger password',
  bytes: 'Password must be no more than 72 bytes in UTF-8 (bcrypt ignores the rest)',
};

describe('passwordProblem', () => {
  it('accepts a password that keeps every rule', () => {
    expect(passwordProblem('Str0ng!Passw0rd')).toBeUndefined();
    expect(passwordProblem('Aa1!aaaa')).toBeUndefined();
  });

  // Each password breaks the rule named and every rule after it, so only the order picks the message.
  it.each([
    ['', MESSAGES.empty],
    ['a', MESSAGES.short],
    ['Aa1!aaa', MESSAGES.short],
    ['a'.repeat(129), MESSAGES.long],
    ['abcdefgh', MESSAGES.upper],
    ['abcdefg1!', MESSAGES.upper],
    ['ABCDEFGH', MESSAGES.lower],
    ['ABCDEFG1!', MESSAGES.lower],
    ['Abcdefgh', MESSAGES.digit],
    ['Abcdefgh!', MESSAGES.digit],
    ['Abcdefg1', MESSAGES.special],
    [`Aa1!${'é'.repeat(35)}`, MESSAGES.bytes],
  ])('refuses %j with the first broken rule', (password, message) => {
    expect(passwordProblem(password)).toBe(message);
  });

  it('puts the length rules before the character-class rules', () => {
    // Too short and lacking everything: the length wins.
    expect(passwordProblem('!')).toBe(MESSAGES.short);
    // Too long, lacking upper case, digit and special character: the length wins.
    expect(passwordProblem('x'.repeat(200))).toBe(MESSAGES.long);
  });

  it('accepts exactly 8 characters; at exactly 128 only the byte rule is broken', () => {
    expect(passwordProblem('Aa1!bcde')).toBeUndefined();
    const max = `Aa1!${'b'.repeat(124)}`;
    expect(max).toHaveLength(128);
    // 128 ASCII characters are 128 bytes: over bcrypt's limit, so the byte rule (the last one) answers.
    expect(passwordProblem(max)).toBe(MESSAGES.bytes);
  });

  it.each([...'!@#$%^&*(),.?":{}|<>'])('counts %j as a special character', (special) => {
    expect(passwordProblem(`Abcdefg1${special}`)).toBeUndefined();
  });

  it.each([..."_-+=;'[]/\\~` "])('does not count %j as a special character', (other) => {
    expect(passwordProblem(`Abcdefg1${other}`)).toBe(MESSAGES.special);
  });

  it.each([
    ['password', MESSAGES.upper],
    ['password123', MESSAGES.upper],
    ['12345678', MESSAGES.upper],
    ['qwerty', MESSAGES.short],
    ['abc123', MESSAGES.short],
    ['123456789', MESSAGES.upper],
    ['letmein', MESSAGES.short],
    ['welcome', MESSAGES.short],
    ['monkey', MESSAGES.short],
    ['1q2w3e4r', MESSAGES.upper],
    ['PASSWORD123', MESSAGES.lower],
    ['Password123', MESSAGES.special],
  ])('refuses the common password %j, by an earlier rule as in the original', (password, message) => {
    // Every listed password lacks a special character, so rule 8 ("too common") can never be the first failure,
    // in the original as here (reference §3.5); what matters is that none of them is accepted.
    expect(passwordProblem(password)).toBe(message);
  });

  it('never reaches the common-password message for any case variant of the list', () => {
    const list = ['password', 'password123', '12345678', 'qwerty', 'abc123', '123456789'];
    for (const word of [...list, ...list.map((w) => w.toUpperCase())]) {
      expect(passwordProblem(word)).toBeDefined();
      expect(passwordProblem(word)).not.toBe(MESSAGES.common);
    }
  });

  describe('the 72-byte limit', () => {
    it('is 72', () => {
      expect(MAX_PASSWORD_BYTES).toBe(72);
    });

    it('accepts 72 ASCII bytes and refuses 73', () => {
      expect(passwordProblem(`Aa1!${'b'.repeat(68)}`)).toBeUndefined();
      expect(passwordProblem(`Aa1!${'b'.repeat(69)}`)).toBe(MESSAGES.bytes);
    });

    it('counts UTF-8 bytes, not characters', () => {
      // 4 + 34 × 2 = 72 bytes in 38 characters: accepted; one more "é" is 74 bytes in 39 characters: refused.
      expect(passwordProblem(`Aa1!${'é'.repeat(34)}`)).toBeUndefined();
      expect(passwordProblem(`Aa1!${'é'.repeat(35)}`)).toBe(MESSAGES.bytes);
      // 4 + 17 × 4 = 72 bytes of emoji: accepted; 18 of them are 76 bytes: refused.
      expect(passwordProblem(`Aa1!${'😀'.repeat(17)}`)).toBeUndefined();
      expect(passwordProblem(`Aa1!${'😀'.repeat(18)}`)).toBe(MESSAGES.bytes);
    });
  });

  it('counts characters (code points) for the minimum length, as the original did', () => {
    // 6 characters but 8 UTF-16 code units: the original (Python len) refuses it as too short.
    expect(passwordProblem('Aa1!😀😀')).toBe(MESSAGES.short);
  });

  it('refuses a NUL character, at which bcrypt would stop reading', () => {
    expect(passwordProblem('Str0ng!Pass\u0000word')).toBe('Password must not contain a NUL character');
  });
});
