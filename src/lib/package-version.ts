// The server's version, from package.json (one level above src/ and dist/ alike).
import fs from 'node:fs';

export function packageVersion(): string {
  const raw = fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(raw) as { version: string }).version;
}
