// Runs once before all test files: finds the real services, and builds dist/ for the end-to-end tests that spawn
// the built server exactly as `npm start` runs it.
import { execFileSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import {
  REQUIRE_SERVICES,
  TEST_POSTGRES_ADMIN_URL,
  TEST_RABBITMQ_URL,
  TEST_REDIS_URL,
  canConnect,
} from './services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresAvailable: boolean;
    redisAvailable: boolean;
    rabbitmqAvailable: boolean;
  }
}

export default async function setup(project: TestProject): Promise<void> {
  const [postgres, redis, rabbitmq] = await Promise.all([
    canConnect(TEST_POSTGRES_ADMIN_URL),
    canConnect(TEST_REDIS_URL),
    canConnect(TEST_RABBITMQ_URL),
  ]);
  const missing = [
    !postgres && `PostgreSQL (${TEST_POSTGRES_ADMIN_URL})`,
    !redis && `Redis (${TEST_REDIS_URL})`,
  ].filter(Boolean);
  if (missing.length > 0) {
    const message = `MISSING TEST SERVICES: ${missing.join(', ')}.`;
    if (REQUIRE_SERVICES) throw new Error(`${message} REQUIRE_SERVICES=1, so the run fails.`);
    console.warn(`\n*** ${message} Their suites are SKIPPED. Set REQUIRE_SERVICES=1 to fail instead. ***\n`);
  }
  project.provide('postgresAvailable', postgres);
  project.provide('redisAvailable', redis);
  if (!rabbitmq)
    console.warn(
      `\n*** RabbitMQ is not answering on ${new URL(TEST_RABBITMQ_URL).host}: its health suites are SKIPPED. ***\n`,
    );
  project.provide('rabbitmqAvailable', rabbitmq);
  // TEST_SKIP_BUILD=1 saves the build when only tests that never spawn dist/ run (test/e2e needs it).
  if (process.env.TEST_SKIP_BUILD !== '1') {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  }
}
