// SQL of the stored tokens: refresh-token families, single-use reset/verification tokens, and the ended logins whose
// access tokens are refused. Only hashes of tokens are stored.
import type { OneTimeTokenPurpose } from '../../platform/db/schema.js';
import { Repository, type Tx } from '../../platform/db/transactions.js';
import { toDate } from '../../platform/db/values.js';

export interface RefreshTokenRecord {
  id: number;
  userId: number;
  familyId: string;
  expiresAt: Date;
  usedAt: Date | null;
  revokedAt: Date | null;
}

export class RefreshTokenRepository extends Repository {
  async insert(
    token: { userId: number; familyId: string; tokenHash: string; issuedAt: Date; expiresAt: Date },
    tx?: Tx,
  ): Promise<void> {
    await this.on(tx)
      .insertInto('refresh_tokens')
      .values({
        user_id: token.userId,
        family_id: token.familyId,
        token_hash: token.tokenHash,
        issued_at: token.issuedAt,
        expires_at: token.expiresAt,
      })
      .execute();
  }

  async findByHash(tokenHash: string, tx?: Tx): Promise<RefreshTokenRecord | undefined> {
    const row = await this.on(tx)
      .selectFrom('refresh_tokens')
      .select(['id', 'user_id', 'family_id', 'expires_at', 'used_at', 'revoked_at'])
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst();
    return (
      row && {
        id: row.id,
        userId: row.user_id,
        familyId: row.family_id,
        expiresAt: toDate(row.expires_at),
        usedAt: toDate(row.used_at),
        revokedAt: toDate(row.revoked_at),
      }
    );
  }

  /** Marks the token used, once: false when it was already used or revoked (a concurrent refresh won). */
  async consume(id: number, now: Date, tx?: Tx): Promise<boolean> {
    const result = await this.on(tx)
      .updateTable('refresh_tokens')
      .set({ used_at: now })
      .where('id', '=', id)
      .where('used_at', 'is', null)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async revokeFamily(familyId: string, now: Date, tx?: Tx): Promise<number> {
    const result = await this.on(tx)
      .updateTable('refresh_tokens')
      .set({ revoked_at: now })
      .where('family_id', '=', familyId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async revokeAllOfUser(userId: number, now: Date, tx?: Tx): Promise<number> {
    const result = await this.on(tx)
      .updateTable('refresh_tokens')
      .set({ revoked_at: now })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** Rows past their expiry are useless (an expired token is refused before its row is read). */
  async deleteExpired(now: Date, tx?: Tx): Promise<number> {
    const result = await this.on(tx)
      .deleteFrom('refresh_tokens')
      .where('expires_at', '<', now)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

export class OneTimeTokenRepository extends Repository {
  async insert(
    token: {
      userId: number;
      purpose: OneTimeTokenPurpose;
      tokenHash: string;
      createdAt: Date;
      expiresAt: Date;
    },
    tx?: Tx,
  ): Promise<void> {
    await this.on(tx)
      .insertInto('one_time_tokens')
      .values({
        user_id: token.userId,
        purpose: token.purpose,
        token_hash: token.tokenHash,
        created_at: token.createdAt,
        expires_at: token.expiresAt,
      })
      .execute();
  }

  /**
   * Uses the token, once and atomically: the user id when it was unused and unexpired, else undefined (a concurrent
   * second use gets undefined too).
   */
  async consume(
    tokenHash: string,
    purpose: OneTimeTokenPurpose,
    now: Date,
    tx?: Tx,
  ): Promise<number | undefined> {
    const row = await this.on(tx)
      .updateTable('one_time_tokens')
      .set({ used_at: now })
      .where('token_hash', '=', tokenHash)
      .where('purpose', '=', purpose)
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .returning('user_id')
      .executeTakeFirst();
    return row?.user_id;
  }

  /** Ends the user's unused tokens of this purpose (a newer link replaces older ones; a reset ends them all). */
  async invalidateOutstanding(
    userId: number,
    purpose: OneTimeTokenPurpose,
    now: Date,
    tx?: Tx,
  ): Promise<void> {
    await this.on(tx)
      .updateTable('one_time_tokens')
      .set({ used_at: now })
      .where('user_id', '=', userId)
      .where('purpose', '=', purpose)
      .where('used_at', 'is', null)
      .execute();
  }

  async deleteExpired(now: Date, tx?: Tx): Promise<number> {
    const result = await this.on(tx)
      .deleteFrom('one_time_tokens')
      .where('expires_at', '<', now)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

/**
 * The per-token denylist of 0002, no longer written (ended logins replaced it, see RevokedSessionRepository); kept
 * so that the expired-token cleaner empties the rows an older version left.
 */
export class RevokedAccessTokenRepository extends Repository {
  async insert(jti: string, expiresAt: Date, tx?: Tx): Promise<void> {
    await this.on(tx)
      .insertInto('revoked_access_tokens')
      .values({ jti, expires_at: expiresAt })
      .onConflict((oc) => oc.column('jti').doNothing())
      .execute();
  }

  async exists(jti: string, tx?: Tx): Promise<boolean> {
    const row = await this.on(tx)
      .selectFrom('revoked_access_tokens')
      .select('jti')
      .where('jti', '=', jti)
      .executeTakeFirst();
    return row !== undefined;
  }

  async deleteExpired(now: Date, tx?: Tx): Promise<number> {
    const result = await this.on(tx)
      .deleteFrom('revoked_access_tokens')
      .where('expires_at', '<', now)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

/**
 * Ended logins (`sid`): their access tokens are refused until `expires_at`, when the last of them has expired. Read
 * by UserRepository.findWithLogin, in the same statement as the user.
 */
export class RevokedSessionRepository extends Repository {
  async insert(sessionId: string, expiresAt: Date, tx?: Tx): Promise<void> {
    await this.on(tx)
      .insertInto('revoked_sessions')
      .values({ session_id: sessionId, expires_at: expiresAt })
      // Ended twice (logout, then a replayed refresh token): the later end is the later bound.
      .onConflict((oc) => oc.column('session_id').doUpdateSet({ expires_at: expiresAt }))
      .execute();
  }

  async deleteExpired(now: Date, tx?: Tx): Promise<number> {
    const result = await this.on(tx)
      .deleteFrom('revoked_sessions')
      .where('expires_at', '<', now)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
