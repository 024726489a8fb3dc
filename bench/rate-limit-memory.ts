// What one identity costs the in-memory rate-limit store (the store without REDIS_URL, and each instance's fallback
// while Redis fails), for the rate-limit section of `npm run bench`: heap used after filling one store with
// IDENTITIES identities, less heap used before, each after a full garbage collection, per identity. The clock stands
// still (a ManualClock, one millisecond per request of an identity) so that no identity is idle, hence swept, before
// the heap is read, and maxKeys is above IDENTITIES so that none is evicted. Prints one JSON object on stdout.
// Usage: node --expose-gc --import tsx bench/rate-limit-memory.ts
import { ManualClock } from '../src/lib/clock.js';
import { MemoryRateLimitStore } from '../src/platform/rate-limit/memory-store.js';
import type { RateLimitPolicy } from '../src/platform/rate-limit/policy.js';

const IDENTITIES = 20_000;
/** Each case is measured this many times (a fresh store each time); the median is reported. */
const REPEATS = 3;

export interface MemoryCase {
  policy: RateLimitPolicy;
  /** Requests each identity makes, all admitted. */
  requests: number;
}

export interface MemoryResult extends MemoryCase {
  bytesPerIdentity: number;
  /** Every repeat's figure, in order. */
  repeats: number[];
}

export interface MemoryReport {
  identities: number;
  node: string;
  results: MemoryResult[];
}

const CASES: MemoryCase[] = [
  { policy: { limit: 100, windowMs: 60_000, burst: 20 }, requests: 1 },
  { policy: { limit: 100, windowMs: 60_000, burst: 20 }, requests: 20 },
  { policy: { limit: 100, windowMs: 60_000 }, requests: 100 },
];

const gc = globalThis.gc;
if (!gc) {
  console.error('rate-limit-memory: run with node --expose-gc');
  process.exit(2);
}

function fullGc(): void {
  // Twice: objects whose finalisation the first collection queued are freed by the second.
  gc?.();
  gc?.();
}

function measure(testCase: MemoryCase): number {
  const start = Date.UTC(2030, 0, 1);
  fullGc();
  const before = process.memoryUsage().heapUsed;
  const clock = new ManualClock(new Date(start));
  const store = new MemoryRateLimitStore({ clock, maxKeys: IDENTITIES * 2 });
  for (let identity = 0; identity < IDENTITIES; identity += 1) {
    for (let request = 0; request < testCase.requests; request += 1) {
      clock.set(new Date(start + request));
      // The key as the general limit builds it (RateLimiter: `${name}:${identity}`), a fresh string per request.
      const decision = store.decide(`general:user:${identity}`, testCase.policy);
      if (!decision.allowed) {
        throw new Error(
          `request ${request + 1} of identity ${identity} was refused: the case must admit all`,
        );
      }
    }
  }
  fullGc();
  const after = process.memoryUsage().heapUsed;
  // Read after the heap, so the store is alive when it is measured.
  if (store.size !== IDENTITIES)
    throw new Error(`the store holds ${store.size} identities, not ${IDENTITIES}`);
  return (after - before) / IDENTITIES;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

const results: MemoryResult[] = CASES.map((testCase) => {
  const repeats = Array.from({ length: REPEATS }, () => measure(testCase));
  return { ...testCase, bytesPerIdentity: median(repeats), repeats };
});
const report: MemoryReport = { identities: IDENTITIES, node: process.version, results };
console.log(JSON.stringify(report));
