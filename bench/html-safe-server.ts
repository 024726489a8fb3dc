// Our built server with the HTML-safe JSON encoding on or off (HTML_SAFE_JSON=on|off), for the section that measures
// what the encoding costs: the same dist/ code, configured from the same environment as `sutazai serve`, one process.
// Usage: PORT=<port> HTML_SAFE_JSON=on|off node --import tsx bench/html-safe-server.ts
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist');
// The built JavaScript, typed by its sources.
const load = async <T>(file: string) => (await import(pathToFileURL(path.join(dist, file)).href)) as T;
const { buildApp } = await load<typeof import('../src/app.js')>('app.js');
const { parseConfig } = await load<typeof import('../src/config.js')>('config.js');
const { withRuntimeSecrets } = await load<typeof import('../src/server.js')>('server.js');
const { packageVersion } =
  await load<typeof import('../src/lib/package-version.js')>('lib/package-version.js');

const mode = process.env.HTML_SAFE_JSON;
if (mode !== 'on' && mode !== 'off') {
  console.error(`html-safe-server: HTML_SAFE_JSON must be on or off (got ${JSON.stringify(mode)})`);
  process.exit(2);
}
const config = parseConfig(process.env, packageVersion());
const app = await buildApp(withRuntimeSecrets(config), { migrate: true, htmlSafeJson: mode === 'on' });
await app.listen({ host: config.server.host, port: config.server.port });

process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
