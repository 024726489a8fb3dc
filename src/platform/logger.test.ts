import { describe, expect, it } from 'vitest';
import { censorSecrets } from './logger.js';

describe('censorSecrets', () => {
  it('censors secrets at the top and one level down, copying instead of changing the caller’s objects', () => {
    const body = { username: 'ann', password: 'hunter2' };
    const logged = { password: 'p', token: 't', body, keep: 1 };
    const out = censorSecrets(logged);
    expect(out).toEqual({
      password: '[redacted]',
      token: '[redacted]',
      body: { username: 'ann', password: '[redacted]' },
      keep: 1,
    });
    expect(logged).toEqual({
      password: 'p',
      token: 't',
      body: { username: 'ann', password: 'hunter2' },
      keep: 1,
    });
    expect(body.password).toBe('hunter2');
  });

  it('returns the same object when there is nothing to censor', () => {
    const logged = { request_id: 'x', nested: { a: 1 }, list: [{ password: 'in an array: not scanned' }] };
    expect(censorSecrets(logged)).toBe(logged);
  });

  it('leaves errors alone (their own serializer handles them)', () => {
    const err = Object.assign(new Error('boom'), { token: 'kept on the error object' });
    const logged = { err };
    expect(censorSecrets(logged)).toBe(logged);
  });

  it.each(['new_password', 'hashed_password', 'access_token', 'refresh_token', 'secret', 'authorization'])(
    'censors %s',
    (key) => {
      expect(censorSecrets({ [key]: 'v', inner: { [key]: 'v' } })).toEqual({
        [key]: '[redacted]',
        inner: { [key]: '[redacted]' },
      });
    },
  );
});
