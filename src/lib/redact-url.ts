// A connection URL fit for a log line or an error message: its password replaced, whatever else it holds kept.

/** `whenUnparsable` builds what to show for a string URL cannot parse (where a password could sit anywhere). */
export function redactUrlPassword(url: string, whenUnparsable: (url: string) => string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return whenUnparsable(url);
  }
}
