// bcrypt, asynchronous only: the native hash runs on libuv's thread pool, so logins never block the event loop
// (hashSync would stall every other request for ~250 ms at cost 12).
import bcrypt from 'bcrypt';

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(password: string, hash: string): Promise<boolean>;
  /** True when `hash` was made with another cost than the current setting (rehash at the next login). */
  needsRehash(hash: string): boolean;
  /**
   * Spends the time of one verification against a throwaway hash, so an unknown user takes as long to refuse as
   * a wrong password.
   */
  verifyDummy(password: string): Promise<void>;
}

/** The cost of a modular-crypt bcrypt hash ($2b$12$…), or undefined when it is not one. */
export function bcryptCost(hash: string): number | undefined {
  const match = /^\$2[abxy]\$(\d{2})\$/.exec(hash);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

export class BcryptPasswordHasher implements PasswordHasher {
  private dummyHash: Promise<string> | undefined;

  constructor(private readonly rounds: number) {}

  hash(password: string): Promise<string> {
    return bcrypt.hash(password, this.rounds);
  }

  async verify(password: string, hash: string): Promise<boolean> {
    // A hash bcrypt cannot read (imported data, a disabled account marker) is a wrong password, not a 500.
    if (bcryptCost(hash) === undefined) return false;
    return bcrypt.compare(password, hash);
  }

  needsRehash(hash: string): boolean {
    return bcryptCost(hash) !== this.rounds;
  }

  async verifyDummy(password: string): Promise<void> {
    await bcrypt.compare(password, await this.prepare());
  }

  /** Makes the throwaway hash (once) ahead of the first unknown-user login. */
  prepare(): Promise<string> {
    this.dummyHash ??= bcrypt.hash('dummy password for timing equality', this.rounds);
    return this.dummyHash;
  }
}
