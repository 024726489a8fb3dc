// The data of the vector index benchmark (bench/vectors-section.ts) and its in-run baseline: seeded random unit
// vectors kept in one Float32Array, an exact cosine top-k over them in plain JavaScript, and the check of the index's
// answers against it; and the two measures of the event loop the section takes (a late 1 ms timer, a call's time
// until it returns its promise).
import { performance } from 'node:perf_hooks';

/** mulberry32: a small seeded PRNG, so that every run inserts and searches the same vectors. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw (Box–Muller): normal coordinates give directions uniform on the sphere. */
function gaussian(random: () => number): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** `count` unit vectors of `dimension` floats, one after the other in one array (row i at i × dimension). */
export function unitVectors(random: () => number, count: number, dimension: number): Float32Array {
  const data = new Float32Array(count * dimension);
  const row = new Float64Array(dimension);
  for (let i = 0; i < count; i += 1) {
    let norm = 0;
    for (let d = 0; d < dimension; d += 1) {
      const value = gaussian(random);
      row[d] = value;
      norm += value * value;
    }
    norm = Math.sqrt(norm);
    for (let d = 0; d < dimension; d += 1) data[i * dimension + d] = (row[d] ?? 0) / norm;
  }
  return data;
}

/** Row `i` of the array as the plain numbers the VectorIndex port takes. */
export function row(data: Float32Array, dimension: number, i: number): number[] {
  return Array.from(data.subarray(i * dimension, (i + 1) * dimension));
}

/** The Euclidean norm of each row (the float32 rows are unit vectors only up to rounding). */
export function rowNorms(data: Float32Array, dimension: number): Float64Array {
  const count = data.length / dimension;
  const norms = new Float64Array(count);
  for (let i = 0; i < count; i += 1) {
    let sum = 0;
    for (let d = i * dimension, end = d + dimension; d < end; d += 1) sum += (data[d] ?? 0) * (data[d] ?? 0);
    norms[i] = Math.sqrt(sum);
  }
  return norms;
}

export interface Hit {
  /** Row number. */
  row: number;
  /** Cosine similarity. */
  score: number;
}

/**
 * The exact top `k` rows by cosine similarity to `query` (best first), over the rows that `keep` accepts: a scan of
 * every row, the top kept in a small sorted array. Computed in float64 from the float32 values.
 */
export function bruteForceTopK(
  data: Float32Array,
  norms: Float64Array,
  dimension: number,
  query: Float32Array,
  k: number,
  keep?: (row: number) => boolean,
): Hit[] {
  let queryNorm = 0;
  for (let d = 0; d < dimension; d += 1) queryNorm += (query[d] ?? 0) * (query[d] ?? 0);
  queryNorm = Math.sqrt(queryNorm);
  const top: Hit[] = [];
  const count = norms.length;
  for (let i = 0; i < count; i += 1) {
    if (keep && !keep(i)) continue;
    let dot = 0;
    const base = i * dimension;
    for (let d = 0; d < dimension; d += 1) dot += (data[base + d] ?? 0) * (query[d] ?? 0);
    const score = dot / ((norms[i] ?? 1) * queryNorm);
    if (top.length === k && score <= (top[k - 1]?.score ?? -Infinity)) continue;
    let at = top.length === k ? k - 1 : top.length;
    while (at > 0 && (top[at - 1]?.score ?? Infinity) < score) {
      top[at] = top[at - 1] as Hit;
      at -= 1;
    }
    top[at] = { row: i, score };
  }
  return top;
}

/** The value below which `fraction` of the values fall (nearest rank). */
export function percentile(values: number[], fraction: number): number {
  if (values.length === 0) throw new Error('percentile of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[rank] ?? 0;
}

export interface Check {
  /** Results of the index found in the baseline's top k, over all results expected. */
  recall: number;
  /** Largest |score of the index − score of the baseline| for the same point. */
  maxScoreDifference: number;
  /** Baseline points the index missed, with the baseline's gap between that point and its k-th score. */
  misses: { query: number; gap: number }[];
}

/** The index's answers (ids `p<row>`) against the baseline's, query by query. */
export function check(expected: Hit[][], got: { id: string; score: number }[][]): Check {
  let found = 0;
  let total = 0;
  let maxScoreDifference = 0;
  const misses: { query: number; gap: number }[] = [];
  expected.forEach((hits, query) => {
    const byId = new Map(hits.map((hit) => [`p${hit.row}`, hit.score]));
    const last = hits.at(-1)?.score ?? 0;
    const returned = new Set<string>();
    for (const match of got[query] ?? []) {
      returned.add(match.id);
      const score = byId.get(match.id);
      if (score === undefined) continue;
      found += 1;
      maxScoreDifference = Math.max(maxScoreDifference, Math.abs(score - match.score));
    }
    total += hits.length;
    for (const hit of hits) if (!returned.has(`p${hit.row}`)) misses.push({ query, gap: hit.score - last });
  });
  return { recall: total === 0 ? 0 : found / total, maxScoreDifference, misses };
}

/** A 1 ms timer; stop() gives how much later than due it fired, tick by tick (ms). */
export function lateTimer(): { stop(): number[] } {
  const lateness: number[] = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    lateness.push(Math.max(0, now - last - 1));
    last = now;
  }, 1);
  return {
    stop() {
      clearInterval(timer);
      lateness.push(Math.max(0, performance.now() - last - 1));
      return lateness;
    },
  };
}

export interface Writes {
  name: string;
  /** How long each call took to return its promise: the time it held the event loop. */
  held: number[];
  /** How long until each call's promise settled. */
  answered: number[];
  /** How much later than due a 1 ms timer fired while these calls ran. */
  lateness: number[];
}

export const writes = (name: string): Writes => ({ name, held: [], answered: [], lateness: [] });

/** Runs `call` and records it in `into`, with a 1 ms timer running from just before the call until it settled. */
export async function timed<T>(into: Writes, call: () => Promise<T>): Promise<T> {
  const timer = lateTimer();
  const t0 = performance.now();
  const pending = call();
  into.held.push(performance.now() - t0);
  try {
    return await pending;
  } finally {
    into.answered.push(performance.now() - t0);
    into.lateness.push(...timer.stop());
  }
}
