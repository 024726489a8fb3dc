// The Redis connection in Prometheus (only when REDIS_URL is set: a server without Redis exports none of these).
import { Counter, Gauge, type Registry } from 'prom-client';
import type { RedisHandle } from './redis.js';

export function registerRedisMetrics(registry: Registry, redis: RedisHandle): void {
  new Gauge({
    name: 'redis_connected',
    help: '1 while the connection to Redis is ready, else 0.',
    registers: [registry],
    // Over cluster workers: 0 as soon as one of them has lost Redis.
    aggregator: 'min',
    collect() {
      this.set(redis.stats().connected ? 1 : 0);
    },
  });
  new Gauge({
    name: 'redis_commands_pending',
    help: 'Commands sent to Redis and not yet answered.',
    registers: [registry],
    collect() {
      this.set(redis.stats().commandsPending);
    },
  });
  const reconnects = new Counter({
    name: 'redis_reconnects_total',
    help: 'Times the connection to Redis was lost and a reconnection began.',
    registers: [registry],
  });
  redis.client.on('reconnecting', () => reconnects.inc());
}
