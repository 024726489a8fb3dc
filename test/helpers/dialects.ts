// Runs a suite once per database dialect. A PostgreSQL suite whose server is missing is skipped loudly, or fails
// under REQUIRE_SERVICES=1 (the global setup already failed the run in that case).
import { describe, inject } from 'vitest';
import type { Dialect } from '../../src/config.js';

export const DIALECTS: Dialect[] = ['sqlite', 'postgres'];

export function describeEachDialect(name: string, suite: (dialect: Dialect) => void): void {
  for (const dialect of DIALECTS) {
    const available = dialect === 'sqlite' || inject('postgresAvailable');
    (available ? describe : describe.skip)(`${name} [${dialect}]`, () => suite(dialect));
  }
}

/** describe() when Redis is reachable, else a loud skip. */
export function describeWithRedis(name: string, suite: () => void): void {
  (inject('redisAvailable') ? describe : describe.skip)(`${name} [redis]`, suite);
}

/** Like describeEachDialect, for what exists on PostgreSQL only (a loud skip when it is missing). */
export function describePostgres(name: string, suite: () => void): void {
  (inject('postgresAvailable') ? describe : describe.skip)(`${name} [postgres]`, suite);
}
