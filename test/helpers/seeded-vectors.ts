// Seeded vectors and the exact-match rule of metadata filters, for the tests of the embedded vector index.

/** Seeded (mulberry32) vectors of `dimension` coordinates in [-1, 1), so every run searches the same data. */
export function seededVectors(seed: number, count: number, dimension: number): number[][] {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: count }, () => Array.from({ length: dimension }, () => next() * 2 - 1));
}

/** The exact match of the index's filters, for plain values and objects; null matches a null or missing key. */
export function matchesFilter(metadata: Record<string, unknown>, filter: Record<string, unknown>): boolean {
  return Object.entries(filter).every(([key, value]) =>
    value === null ? metadata[key] == null : JSON.stringify(metadata[key]) === JSON.stringify(value),
  );
}
