// Reading the JSON an LLM server sent, field by field, without trusting its shape: both adapters take what they can
// use and turn the rest into null (or a protocol error where a value is required).

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A non-empty string, else null (servers write "" for "none", as Ollama's parent_model). */
export function nonEmpty(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

/** A count (a safe non-negative integer), else null. */
export function count(value: unknown): number | null {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : null;
}

/** A non-empty list of finite numbers: one embedding. */
export function isVector(value: unknown): value is number[] {
  if (!Array.isArray(value) || value.length === 0) return false;
  for (const x of value) if (typeof x !== 'number' || !Number.isFinite(x)) return false;
  return true;
}
