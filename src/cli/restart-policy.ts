// When the cluster primary restarts a worker that died, and when it stops trying. Pure (the clock is injected) so
// that the backoff and the crash-loop bound are tested without processes or sleeping; serve.ts does the wiring.
//
// One policy per worker slot, not one for the cluster: a crash that takes every worker down at once (an OOM kill,
// a shared dependency failing) counts once per slot, so it does not look like a crash loop on a 16-worker machine.

export interface RestartLimits {
  /** Restarts one slot may make within `windowMs`; the crash after them gives up. 0: the first crash gives up. */
  maxRestarts: number;
  windowMs: number;
  /** The first restart's delay; each further crash in a row doubles it, up to `maxDelayMs`. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** A worker that stayed up this long before dying was healthy: its replacement starts at `initialDelayMs` again. */
  stableAfterMs: number;
}

export const BACKOFF = { initialDelayMs: 100, maxDelayMs: 5_000, stableAfterMs: 30_000 } as const;

export type RestartDecision =
  { restart: true; delayMs: number } | { restart: false; crashes: number; windowMs: number };

export class RestartPolicy {
  private readonly crashTimes: number[] = [];
  private inARow = 0;
  private startedAt: number | undefined;

  constructor(
    private readonly limits: RestartLimits,
    private readonly now: () => number,
  ) {}

  /** The slot's worker was (re)started now. */
  started(): void {
    this.startedAt = this.now();
  }

  /** The slot's worker died unasked: restart it after `delayMs`, or give up. */
  crashed(): RestartDecision {
    const now = this.now();
    if (this.startedAt !== undefined && now - this.startedAt >= this.limits.stableAfterMs) this.inARow = 0;
    this.startedAt = undefined;
    while (this.crashTimes.length > 0 && now - (this.crashTimes[0] ?? now) >= this.limits.windowMs)
      this.crashTimes.shift();
    this.crashTimes.push(now);
    if (this.crashTimes.length > this.limits.maxRestarts)
      return { restart: false, crashes: this.crashTimes.length, windowMs: this.limits.windowMs };
    const delayMs = Math.min(this.limits.maxDelayMs, this.limits.initialDelayMs * 2 ** this.inARow);
    this.inARow += 1;
    return { restart: true, delayMs };
  }
}
