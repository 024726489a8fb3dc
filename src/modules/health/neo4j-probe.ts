// Neo4j's health: neo4j-driver's verifyConnectivity on a driver kept for the app's life (its pool keeps the
// connection between rounds).
import neo4j from 'neo4j-driver';
import type { ServiceProbe } from './service-probe.js';

export function neo4jProbe(
  config: { url: string; user: string; password: string | undefined },
  timeoutMs: number,
): ServiceProbe {
  const driver = neo4j.driver(config.url, neo4j.auth.basic(config.user, config.password ?? ''), {
    connectionTimeout: timeoutMs,
    connectionAcquisitionTimeout: timeoutMs,
    maxConnectionPoolSize: 2,
    maxTransactionRetryTime: 0,
  });
  return {
    async check() {
      await driver.verifyConnectivity();
    },
    close: () => driver.close(),
  };
}
