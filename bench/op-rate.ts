// One rule for turning timed completions into a rate and latencies, used for both sides of the login benchmark
// (bcrypt.compare calls in the ceiling child, login responses seen by autocannon), so that the two figures of a
// ratio are computed the same way over the same kind of window.
//
// The window opens at the answer to the concurrency-th operation, not at the start: all the first operations are
// issued at once and queue for the few pool threads, so the first second or two is a ramp with no completion at all
// (at a few operations per second, counting it would cut the rate by 10-20 % and by different amounts on each side).
// Once the first `concurrency` operations have been answered, the pipeline is full and stays so.
import type { Measurement } from './measure-load.js';

export interface Completion {
  /** When the operation finished, in ms since the run started. */
  atMs: number;
  /** From the moment it was issued (queueing included) to the moment it finished. */
  latencyMs: number;
}

/** When the measurement window opens (ms since the start), or undefined while fewer operations have finished. */
export function windowOpensAt(completions: Completion[], concurrency: number): number | undefined {
  return completions[concurrency - 1]?.atMs;
}

/** Nearest-rank percentile of an ascending list. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? 0;
}

/**
 * The operations that finished within `windowMs` after the window opened, per second of the window, and their
 * latencies. Operations still in flight when the window closes count for nothing, on either side.
 * `completions` are in completion order; `endMs` is when the run stopped (it must cover the whole window).
 */
export function measureWindow(
  completions: Completion[],
  concurrency: number,
  windowMs: number,
  endMs: number,
): Measurement {
  const opensAt = windowOpensAt(completions, concurrency);
  if (opensAt === undefined) {
    throw new Error(`only ${completions.length} operations finished; the window needs ${concurrency} first`);
  }
  if (endMs < opensAt + windowMs) {
    throw new Error(`the run stopped ${Math.round(opensAt + windowMs - endMs)} ms before its window closed`);
  }
  const inWindow = completions.filter((c) => c.atMs > opensAt && c.atMs <= opensAt + windowMs);
  const latencies = inWindow.map((c) => c.latencyMs).sort((a, b) => a - b);
  return {
    requestsPerSecond: inWindow.length / (windowMs / 1000),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    requests: inWindow.length,
  };
}
