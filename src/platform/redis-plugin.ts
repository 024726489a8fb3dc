// Connects the optional Redis client at start (failing start when REDIS_URL is set and Redis cannot be reached),
// and quits it when the app closes. `app.redis` is undefined when REDIS_URL is unset.
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { StartupError } from './errors.js';
import { createRedis, type RedisHandle } from './redis.js';
import { registerRedisMetrics } from './redis-metrics.js';

declare module 'fastify' {
  interface FastifyInstance {
    redis: RedisHandle | undefined;
  }
}

const redisPlugin: FastifyPluginAsync<{ config: Config['redis']; connectionName: string }> = async (
  app,
  opts,
) => {
  const { url } = opts.config;
  if (!url) {
    app.decorate('redis', undefined);
    return;
  }
  const redis = createRedis({ ...opts.config, url }, opts.connectionName);
  app.decorate('redis', redis);
  registerRedisMetrics(app.metrics.registry, redis);
  app.addHook('onClose', () => redis.close());
  try {
    await redis.connect();
  } catch (error) {
    throw new StartupError(error instanceof Error ? error.message : String(error), { cause: error });
  }
};

export default fp(redisPlugin, { name: 'redis', dependencies: ['metrics'] });
