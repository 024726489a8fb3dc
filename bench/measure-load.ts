// One autocannon run against one server, in this process (the servers are children, so the load generator and
// the server under test share the machine the same way for every row). A run with any failed request throws:
// a figure built on errors or wrong answers would compare different work.
import autocannon from 'autocannon';
import { HEALTH_BODY, HEALTH_PATH } from './health-response.js';

export interface LoadShape {
  connections: number;
  pipelining: number;
}

export interface Measurement {
  /** Mean of autocannon's per-second request counts. */
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
}

export class FailedRequestsError extends Error {
  override name = 'FailedRequestsError';
}

export async function measureLoad(
  baseUrl: string,
  shape: LoadShape,
  durationSeconds: number,
): Promise<Measurement> {
  const result = await autocannon({
    url: `${baseUrl}${HEALTH_PATH}`,
    method: 'GET',
    connections: shape.connections,
    pipelining: shape.pipelining,
    duration: durationSeconds,
    // Every body is compared with the expected one (counted as a mismatch otherwise).
    expectBody: HEALTH_BODY,
    // One slow answer must show up in p99, not as an aborted request.
    timeout: 10,
  });
  const problems = [
    result.non2xx > 0 && `${result.non2xx} non-2xx responses`,
    result.errors > 0 && `${result.errors} connection errors (${result.timeouts} of them timeouts)`,
    result.mismatches > 0 && `${result.mismatches} responses with an unexpected body`,
    result['2xx'] === 0 && 'no successful response at all',
  ].filter((p): p is string => typeof p === 'string');
  if (problems.length > 0) {
    throw new FailedRequestsError(`GET ${baseUrl}${HEALTH_PATH}: ${problems.join(', ')}`);
  }
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
  };
}
