// Which real services the tests can reach. With REQUIRE_SERVICES=1 (CI) a missing one fails the run; otherwise
// the suites that need it are skipped, and the run says so loudly.
import net from 'node:net';

export const TEST_POSTGRES_ADMIN_URL =
  process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15';
/** RabbitMQ is probed by the health tests only; a missing one skips them loudly (CI starts it). */
export const TEST_RABBITMQ_URL = process.env.TEST_RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const REQUIRE_SERVICES = process.env.REQUIRE_SERVICES === '1';

export function canConnect(url: string, timeoutMs = 1500): Promise<boolean> {
  const parsed = new URL(url);
  const defaultPort = parsed.protocol.startsWith('redis')
    ? 6379
    : parsed.protocol.startsWith('amqp')
      ? 5672
      : 5432;
  const port = Number(parsed.port || defaultPort);
  return new Promise((resolve) => {
    const socket = net.connect({ host: parsed.hostname, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
