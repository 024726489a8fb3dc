import { describe, expect, it } from 'vitest';
import { clientAddress } from './client-address.js';

describe('clientAddress', () => {
  it.each(['127.0.0.1', '::1', '2001:db8::1', '::ffff:10.0.0.1'])('keeps the address %s', (ip) => {
    expect(clientAddress({ ip })).toBe(ip);
  });

  it.each(['x'.repeat(300), '<script>', 'not an ip', '', `fe80::1%${'a'.repeat(100)}`])(
    'turns %j into a bounded digest',
    (ip) => {
      const key = clientAddress({ ip });
      expect(key).toMatch(/^unparsed-[0-9a-f]{64}$/);
      expect(clientAddress({ ip })).toBe(key);
    },
  );

  it('gives different junk different keys', () => {
    expect(clientAddress({ ip: 'a' })).not.toBe(clientAddress({ ip: 'b' }));
  });
});
