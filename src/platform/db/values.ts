// The only place that knows how each dialect hands values back, so repositories stay dialect-free.

/** A timestamp column's value as a Date (PostgreSQL gives Date, SQLite gives ISO text). */
export function toDate(value: Date | string): Date;
export function toDate(value: Date | string | null): Date | null;
export function toDate(value: Date | string | null): Date | null {
  if (value === null) return null;
  return value instanceof Date ? value : new Date(value);
}

/** A boolean column's value (SQLite stores 0/1). */
export function toBool(value: boolean | number): boolean {
  return value === true || value === 1;
}

/** A Date in the form both dialects store and compare correctly: ISO-8601 UTC with milliseconds. */
export function toDbTimestamp(date: Date): string {
  return date.toISOString();
}
