// The login side of the login benchmark: register the one account, then drive POST /api/v1/auth/login with
// autocannon (in this process, as for GET /health). Every answer must be a 200 with a bearer token pair; anything
// else fails the run. The rate is computed from each response's arrival time with the same rule as the ceiling.
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { FailedRequestsError, type Measurement } from './measure-load.js';
import { measureWindow, type Completion } from './op-rate.js';

export const REGISTER_PATH = '/api/v1/auth/register';
export const LOGIN_PATH = '/api/v1/auth/login';

/** Beyond the window: the ramp before the window opens may take this long on a busy machine, no longer. */
const GIVE_UP_AFTER_SECONDS = 120;

export interface BenchAccount {
  email: string;
  username: string;
  password: string;
}

export async function registerAccount(baseUrl: string, account: BenchAccount): Promise<void> {
  const response = await fetch(`${baseUrl}${REGISTER_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(account),
  });
  if (response.status !== 201) {
    throw new Error(`POST ${REGISTER_PATH} answered ${response.status}: ${await response.text()}`);
  }
}

function isTokenPair(body: string | Buffer | undefined): boolean {
  if (body === undefined) return false;
  try {
    const parsed = JSON.parse(body.toString()) as Record<string, unknown>;
    return (
      typeof parsed.access_token === 'string' &&
      typeof parsed.refresh_token === 'string' &&
      parsed.token_type === 'bearer'
    );
  } catch {
    return false;
  }
}

export async function measureLogins(
  baseUrl: string,
  account: BenchAccount,
  connections: number,
  seconds: number,
): Promise<Measurement> {
  const completions: Completion[] = [];
  const otherStatuses = new Map<number, number>();
  const windowMs = seconds * 1000;
  let start = 0;
  let endMs = 0;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    start = performance.now();
    const instance = autocannon(
      {
        url: `${baseUrl}${LOGIN_PATH}`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: account.username, password: account.password }),
        connections,
        pipelining: 1,
        // A cap only: the run is stopped once its window (see op-rate.ts) has closed.
        duration: seconds + GIVE_UP_AFTER_SECONDS,
        verifyBody: (body) => {
          if (isTokenPair(body)) return true;
          instance.stop();
          return false;
        },
        // A login waits for a bcrypt thread; a slow one must show up in p99, not as an aborted request.
        timeout: 30,
      },
      (error, res) => {
        endMs = performance.now() - start;
        if (error) reject(error as Error);
        else resolve(res);
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode !== 200) {
        otherStatuses.set(statusCode, (otherStatuses.get(statusCode) ?? 0) + 1);
        instance.stop();
        return;
      }
      completions.push({ atMs: performance.now() - start, latencyMs: responseTime });
      if (completions.length === connections) setTimeout(() => instance.stop(), windowMs);
    });
    // The run has failed already: stop now rather than at the cap (the checks below report why).
    instance.on('reqError', () => instance.stop());
  });
  const problems = [
    ...[...otherStatuses].map(([status, count]) => `${count} responses with status ${status}`),
    result.errors > 0 && `${result.errors} connection errors (${result.timeouts} of them timeouts)`,
    result.mismatches > 0 && `${result.mismatches} responses without a bearer token pair`,
    completions.length === 0 && 'no successful login at all',
  ].filter((p): p is string => typeof p === 'string');
  if (problems.length > 0) {
    throw new FailedRequestsError(`POST ${baseUrl}${LOGIN_PATH}: ${problems.join(', ')}`);
  }
  return measureWindow(completions, connections, windowMs, endMs);
}
