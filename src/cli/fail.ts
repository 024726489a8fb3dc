// How a CLI command reports a failure: one clear line on stderr (a list for configuration), exit code 1.
import { ConfigError } from '../config.js';

export function describeFailure(error: unknown): string {
  if (error instanceof ConfigError) return error.message;
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL')
      return `cannot listen: ${error.message}`;
    return error.message || error.name;
  }
  return String(error);
}

export function exitWithFailure(command: string, error: unknown): never {
  console.error(`sutazai ${command}: ${describeFailure(error)}`);
  process.exit(1);
}
