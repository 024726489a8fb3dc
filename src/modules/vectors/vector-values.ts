// What a vector and its metadata must be for every backend to store and compare them. The checks look at the values as
// they will be stored, not as JSON parsed them: every backend keeps float32 components (a float64 that is fine may be
// Infinity or 0 once narrowed), and SQLite's JSON functions refuse documents nested deeper than 1000 levels.

/** The smallest positive normal float32 (2^-126): a squared norm below it has lost its precision to underflow. */
const FLOAT32_MIN_NORMAL = 2 ** -126;

/**
 * Why `vector` cannot be stored and compared by cosine, as the end of a sentence ("has …", "is …"); null when it can.
 * Checked on the float32 values every backend stores: each component finite once narrowed (1e39 becomes Infinity),
 * not all zero once narrowed (1e-50 becomes 0), and the squared norm, summed in float32 as sqlite-vec sums it, a
 * finite normal float32 (not overflowing to Infinity, not underflowing to 0 or a denormal): else the cosine is
 * NaN, Infinity or noise.
 */
export function storableVectorProblem(vector: readonly number[]): string | null {
  let squaredNorm = 0;
  let zero = true;
  for (const component of vector) {
    const stored = Math.fround(component);
    if (!Number.isFinite(stored)) return 'has a component that is not a finite 32-bit float (beyond ±3.4e38)';
    if (stored !== 0) zero = false;
    squaredNorm = Math.fround(squaredNorm + Math.fround(stored * stored));
  }
  if (zero) return 'is all zeros (as 32-bit floats): it has no direction to compare';
  if (!Number.isFinite(squaredNorm)) return 'is too long: its norm overflows a 32-bit float';
  if (squaredNorm < FLOAT32_MIN_NORMAL) return 'is too short: its norm underflows a 32-bit float';
  return null;
}

/**
 * How deep metadata and filter values may nest (the object itself is level 1). SQLite's JSON functions stop at 1000
 * levels, so deeper metadata would be stored and then break every filtered search of its collection; 32 is far more
 * than any metadata needs and keeps the recursive checks here shallow.
 */
export const MAX_JSON_DEPTH = 32;

/** True when `value` nests more than `limit` levels of objects and arrays (stops looking once it knows). */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (limit <= 0) return true;
  const children = Array.isArray(value) ? value : Object.values(value as Record<string, unknown>);
  return children.some((child) => nestedDeeperThan(child, limit - 1));
}

/**
 * The most one point's metadata may take as JSON text (UTF-8 bytes). The embedded index scans every row's metadata
 * when it filters and returns it with each match; points are meant to carry a few fields (and, after
 * embed-and-store, their text of at most 8192 characters), not documents.
 */
export const MAX_METADATA_BYTES = 64 * 1024;

/** The size of `metadata` as stored: its JSON text in UTF-8. */
export function metadataBytes(metadata: Record<string, unknown>): number {
  return Buffer.byteLength(JSON.stringify(metadata), 'utf8');
}
