// The load of the rate-limit section: users registered and logged in over HTTP, then GET /api/v1/auth/me driven by
// autocannon (in this process, as for GET /health) rotating over their access tokens, so that the limiter keeps one
// window per user as in production rather than one huge window. Every answer must be a 200 with a user's body.
import autocannon from 'autocannon';
import { FailedRequestsError, type LoadShape, type Measurement } from './measure-load.js';
import { LOGIN_PATH, REGISTER_PATH } from './measure-login.js';

export const ME_PATH = '/api/v1/auth/me';
/** Passes the password policy (src/modules/auth/password-policy.ts). */
const PASSWORD = 'Str0ng!Passw0rd';
const USERNAME_PREFIX = 'rl_bench_';
/** Registrations and logins in flight at once while setting up. */
const SETUP_CONCURRENCY = 8;

async function expectStatus(response: Response, status: number, what: string): Promise<void> {
  if (response.status !== status) {
    throw new Error(`${what} answered ${response.status}: ${await response.text()}`);
  }
}

/** Registers the user and logs in (a form, as OAuth2 clients send it); resolves the access token. */
async function registerAndLogIn(baseUrl: string, index: number): Promise<string> {
  const username = `${USERNAME_PREFIX}${index}`;
  const registered = await fetch(`${baseUrl}${REGISTER_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: `rl-bench-${index}@example.com`, username, password: PASSWORD }),
  });
  await expectStatus(registered, 201, `POST ${REGISTER_PATH} (${username})`);
  const loggedIn = await fetch(`${baseUrl}${LOGIN_PATH}`, {
    method: 'POST',
    body: new URLSearchParams({ username, password: PASSWORD }),
  });
  await expectStatus(loggedIn, 200, `POST ${LOGIN_PATH} (${username})`);
  const { access_token: token } = (await loggedIn.json()) as { access_token?: unknown };
  if (typeof token !== 'string') throw new Error(`POST ${LOGIN_PATH} (${username}) gave no access_token`);
  return token;
}

/** Registers and logs in `count` users on the server; resolves their access tokens, in order. */
export async function userTokens(baseUrl: string, count: number): Promise<string[]> {
  const tokens: string[] = new Array<string>(count);
  let next = 0;
  const worker = async () => {
    for (let index = next++; index < count; index = next++)
      tokens[index] = await registerAndLogIn(baseUrl, index);
  };
  await Promise.all(Array.from({ length: Math.min(SETUP_CONCURRENCY, count) }, worker));
  return tokens;
}

/** GET /me once with the token: its status and whether the general limit's headers came with it. */
export async function probeMe(baseUrl: string, token: string): Promise<{ limitHeader: string | null }> {
  const response = await fetch(`${baseUrl}${ME_PATH}`, { headers: { authorization: `Bearer ${token}` } });
  await expectStatus(response, 200, `GET ${ME_PATH}`);
  await response.arrayBuffer();
  return { limitHeader: response.headers.get('x-ratelimit-limit') };
}

export async function measureMe(
  baseUrl: string,
  tokens: string[],
  shape: LoadShape,
  durationSeconds: number,
): Promise<Measurement> {
  const result = await autocannon({
    url: baseUrl,
    connections: shape.connections,
    pipelining: shape.pipelining,
    duration: durationSeconds,
    // Each connection sends the tokens in turn, one request each, over and over.
    requests: tokens.map((token) => ({
      method: 'GET',
      path: ME_PATH,
      headers: { authorization: `Bearer ${token}` },
    })),
    // A bench user's body (counted as a mismatch otherwise).
    verifyBody: (body) => body?.toString().includes(`"username":"${USERNAME_PREFIX}`) ?? false,
    // One slow answer must show up in p99, not as an aborted request.
    timeout: 10,
  });
  const problems = [
    result.non2xx > 0 && `${result.non2xx} non-2xx responses`,
    result.errors > 0 && `${result.errors} connection errors (${result.timeouts} of them timeouts)`,
    result.mismatches > 0 && `${result.mismatches} responses without a bench user's body`,
    result['2xx'] === 0 && 'no successful response at all',
  ].filter((p): p is string => typeof p === 'string');
  if (problems.length > 0) {
    throw new FailedRequestsError(`GET ${baseUrl}${ME_PATH}: ${problems.join(', ')}`);
  }
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
  };
}

/** The general limit's counters in the server's GET /metrics (open: the bench sets no METRICS_TOKEN). */
export async function generalLimitCounters(
  baseUrl: string,
): Promise<{ allowed: number; limited: number; backendErrors: number }> {
  const response = await fetch(`${baseUrl}/metrics`);
  await expectStatus(response, 200, 'GET /metrics');
  const text = await response.text();
  const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
  return {
    allowed: value(/^rate_limit_decisions_total\{limit="general",result="allowed"\} (\S+)$/m),
    limited: value(/^rate_limit_decisions_total\{limit="general",result="limited"\} (\S+)$/m),
    backendErrors: value(/^rate_limit_backend_errors_total (\S+)$/m),
  };
}
