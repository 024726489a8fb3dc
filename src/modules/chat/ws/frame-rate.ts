// WS_MESSAGES_PER_MINUTE for one socket: a token bucket of that many frames, refilled evenly over the minute, so a
// client may send a short burst but not more than the rate over time. One small object per socket, no timer: the
// general rate limiter (platform/rate-limit) counts requests per client across instances, which a socket's frames
// on one connection do not need.
const MINUTE_MS = 60_000;

export class FrameRate {
  #tokens: number;
  #at: number;

  constructor(
    private readonly perMinute: number,
    now = Date.now(),
  ) {
    this.#tokens = perMinute;
    this.#at = now;
  }

  /** Takes one frame's token; false when none is left. */
  take(now: number): boolean {
    this.#refill(now);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** How long until the next frame would be accepted. */
  waitMs(now: number): number {
    this.#refill(now);
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) * MINUTE_MS) / this.perMinute);
  }

  #refill(now: number): void {
    // A clock stepping back refills nothing.
    const elapsed = Math.max(0, now - this.#at);
    this.#tokens = Math.min(this.perMinute, this.#tokens + (elapsed * this.perMinute) / MINUTE_MS);
    this.#at = Math.max(this.#at, now);
  }
}
