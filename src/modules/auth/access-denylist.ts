// Access tokens revoked before their expiry (logout). The port, and its two stores: Redis when configured, shared
// by every instance; else the database, shared by the workers of one SQLite file or PostgreSQL server.
import type { Clock } from '../../lib/clock.js';
import type { RedisHandle } from '../../platform/redis.js';
import type { DbExecutor } from '../../platform/db/transactions.js';
import type { RevokedAccessTokenRepository } from './token.repository.js';

export interface AccessDenylist {
  revoke(jti: string, expiresAt: Date): Promise<void>;
  isRevoked(jti: string): Promise<boolean>;
}

export class RedisAccessDenylist implements AccessDenylist {
  constructor(
    private readonly redis: RedisHandle,
    private readonly clock: Clock,
  ) {}

  async revoke(jti: string, expiresAt: Date): Promise<void> {
    const ttlMs = expiresAt.getTime() - this.clock.now().getTime();
    // An already-expired token is refused by its exp; nothing to remember.
    if (ttlMs <= 0) return;
    await this.redis.client.set(`revoked-jti:${jti}`, '1', 'PX', ttlMs);
  }

  async isRevoked(jti: string): Promise<boolean> {
    return (await this.redis.client.exists(`revoked-jti:${jti}`)) === 1;
  }
}

/** How often (at most) a revocation also deletes expired rows, so the table stays as small as the live tokens. */
const PURGE_INTERVAL_MS = 10 * 60_000;

export class DatabaseAccessDenylist implements AccessDenylist {
  private lastPurge = 0;

  constructor(
    private readonly db: DbExecutor,
    private readonly repository: RevokedAccessTokenRepository,
    private readonly clock: Clock,
  ) {}

  async revoke(jti: string, expiresAt: Date): Promise<void> {
    const now = this.clock.now();
    if (expiresAt <= now) return;
    await this.repository.insert(this.db, jti, expiresAt);
    if (now.getTime() - this.lastPurge > PURGE_INTERVAL_MS) {
      this.lastPurge = now.getTime();
      await this.repository.deleteExpired(this.db, now);
    }
  }

  isRevoked(jti: string): Promise<boolean> {
    return this.repository.exists(this.db, jti);
  }
}
