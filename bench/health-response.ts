// What every server under test must answer to the one request the benchmark sends. The bare baseline serves these
// exact bytes, and autocannon checks every body against them, so both sides do the same observable work.
export const HEALTH_PATH = '/health';

/** Our server's GET /health body with the default APP_NAME (src/modules/root/root.routes.ts). */
export const HEALTH_BODY = JSON.stringify({ status: 'healthy', app: 'SutazAI Platform API' });
