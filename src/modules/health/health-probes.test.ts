import { Agent } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config.js';
import { createProbes } from './health-probes.js';

describe('createProbes', () => {
  const dispatcher = new Agent();
  afterAll(() => dispatcher.close());
  const config = parseConfig({
    ENVIRONMENT: 'test',
    DATABASE_URL: 'sqlite::memory:',
    JWT_SECRET_KEY: 'x'.repeat(40),
  });

  it('enables only the database and the LLM server without URLs', () => {
    const probes = createProbes({ config, database: { ping: async () => {} }, redis: undefined, dispatcher });
    expect(Object.keys(probes).sort()).toEqual(['database', 'ollama']);
  });

  it('lets database checks join the ping in flight instead of queueing another one', async () => {
    let pings = 0;
    let answer = () => {};
    const database = {
      ping: () => {
        pings++;
        return new Promise<void>((resolve) => (answer = resolve));
      },
    };
    const probe = createProbes({ config, database, redis: undefined, dispatcher }).database;
    const signal = new AbortController().signal;
    const first = probe?.check(signal);
    const second = probe?.check(signal);
    expect(pings).toBe(1);
    answer();
    await Promise.all([first, second]);
    // Once it has answered, the next check pings again.
    const third = probe?.check(signal);
    expect(pings).toBe(2);
    answer();
    await third;
  });
});
