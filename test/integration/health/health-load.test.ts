// The seed's load scenarios at full size (tests/load_test.py of the original: 10 users × 5 requests, 50 × 10 and
// 100 × 10, each user's requests one after another, the users at once) against a listening server, over every
// health route the original's scenarios use, with PostgreSQL and Redis as deployed: every answer must be a 200.
// (The original's scenarios also call /api/v1/agents/, which comes with the agents issue.) No timing is asserted.
import { Agent, request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { describePostgres } from '../../helpers/dialects.js';
import { startHttpStandIn, type HttpStandIn } from '../../helpers/health-stand-ins.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { TEST_REDIS_URL } from '../../helpers/services.js';
import { listen } from '../platform/error-routes.js';

const ROUTES = ['/api/v1/health/', '/api/v1/health/services', '/api/v1/health/metrics'];
const SCENARIOS = [
  { users: 10, requestsPerUser: 5 },
  { users: 50, requestsPerUser: 10 },
  { users: 100, requestsPerUser: 10 },
];

describePostgres('the seed load scenarios over the health routes', () => {
  let t: TestApp;
  let llm: LlmStandIn;
  let kong: HttpStandIn;
  let baseUrl: string;
  const dispatcher = new Agent({ connections: 200 });
  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest'] });
    kong = await startHttpStandIn({ '/status': [200, '{}'] });
    t = await buildTestApp({
      dialect: 'postgres',
      env: { REDIS_URL: TEST_REDIS_URL, OLLAMA_URL: llm.url, KONG_ADMIN_URL: kong.url },
    });
    baseUrl = await listen(t.app);
  });
  afterAll(async () => {
    await dispatcher.close();
    await t?.close();
    await llm?.close();
    await kong?.close();
  });

  it.each(SCENARIOS)(
    '$users users × $requestsPerUser requests on each route: 100 % success',
    async (scenario) => {
      for (const route of ROUTES) {
        const statuses = await Promise.all(
          Array.from({ length: scenario.users }, async () => {
            const seen: number[] = [];
            for (let i = 0; i < scenario.requestsPerUser; i++) {
              const { statusCode, body } = await request(`${baseUrl}${route}`, { dispatcher });
              const parsed = (await body.json()) as { status?: string };
              seen.push(statusCode === 200 && parsed.status !== undefined ? 200 : statusCode);
            }
            return seen;
          }),
        );
        const all = statuses.flat();
        expect(all, route).toHaveLength(scenario.users * scenario.requestsPerUser);
        expect(
          all.filter((status) => status !== 200),
          route,
        ).toEqual([]);
      }
    },
  );
});
