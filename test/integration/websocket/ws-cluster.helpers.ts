// Shared by the WebSocket cluster suite: app instances on one PostgreSQL database and one Redis, listening on real
// ports; socket attempts that end either admitted (the `connection` frame) or refused (the close); the superuser's
// connection figures; and a bounded poll.
import { afterAll, beforeAll, expect } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import type { App } from '../../../src/app.js';
import { bearer } from '../../helpers/auth.js';
import { closeAllSockets, connectWs, type Closed, type TestSocket } from '../../helpers/ws-client.js';

export interface Instance {
  t: TestApp;
  app: App;
  /** ws://127.0.0.1:<port> */
  url: string;
}

export const CHAT_WS = '/api/v1/chat/ws';

/** Starts listening on a free loopback port. */
export async function listening(t: TestApp): Promise<Instance> {
  const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
  return { t, app: t.app, url: address.replace(/^http/, 'ws') };
}

/**
 * `count` instances for the enclosing describe, all on the first one's database (as instances behind a load
 * balancer), with `env()` (read in beforeAll, so that it may name what an earlier beforeAll started).
 */
export function instancesSharing(
  count: number,
  env: () => Record<string, string>,
  options: { captureLogs?: boolean } = {},
): Instance[] {
  const instances: Instance[] = [];
  const apps: TestApp[] = [];
  beforeAll(async () => {
    for (let i = 0; i < count; i++) {
      const first = apps[0];
      const t = await buildTestApp({
        ...options,
        dialect: 'postgres',
        ...(first ? { databaseUrl: () => first.config.db.url } : {}),
        env: env(),
      });
      apps.push(t);
      instances.push(await listening(t));
    }
  });
  afterAll(async () => {
    closeAllSockets();
    // The first one last: its close drops the shared database.
    for (const t of apps.splice(0).reverse()) await t.close();
    instances.splice(0);
  });
  return instances;
}

export type Attempt = { admitted: TestSocket } | { refused: Closed };

/** Opens a chat socket with the token in the Authorization header: admitted (its `connection` frame) or refused. */
export async function attempt(
  instance: Pick<Instance, 'url'>,
  token: string,
  path: string = CHAT_WS,
): Promise<Attempt> {
  const socket = await connectWs(`${instance.url}${path}`, { headers: bearer(token) });
  // The loser's rejection (next() rejects once the socket closes) is handled by the race.
  return Promise.race([
    socket.next('connection', { timeoutMs: 10_000 }).then(() => ({ admitted: socket })),
    socket.closed.then((closed) => ({ refused: closed })),
  ]);
}

export async function admit(
  instance: Pick<Instance, 'url'>,
  token: string,
  path?: string,
): Promise<TestSocket> {
  const result = await attempt(instance, token, path);
  if ('refused' in result) throw new Error(`the socket was refused: ${JSON.stringify(result.refused)}`);
  return result.admitted;
}

export async function refusal(
  instance: Pick<Instance, 'url'>,
  token: string,
  path?: string,
): Promise<Closed> {
  const result = await attempt(instance, token, path);
  if ('admitted' in result) throw new Error('the socket was admitted');
  return result.refused;
}

export const userLimit = (perUser: number): Closed => ({
  code: 1008,
  reason: `User connection limit (${perUser}) reached`,
});
export const SERVER_LIMIT: Closed = { code: 1008, reason: 'Server connection limit reached' };

export interface WsStats {
  total_connections: number;
  total_users: number;
  user_distribution: Record<string, number>;
  scope: 'cluster' | 'instance';
  instance_connections: number;
}

export async function wsStats(app: App, token: string): Promise<WsStats> {
  const response = await app.inject({ method: 'GET', url: '/api/v1/chat/ws/stats', headers: bearer(token) });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<WsStats>();
}

/** The figures a test compares (the limits and heartbeat settings are constant). */
export function figures(stats: WsStats): WsStats {
  const { total_connections, total_users, user_distribution, scope, instance_connections } = stats;
  return { total_connections, total_users, user_distribution, scope, instance_connections };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Reads until `done` holds (bounded); fails with the last value read. */
export async function poll<T>(
  what: string,
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${timeoutMs} ms; last read: ${JSON.stringify(value)}`);
    await sleep(50);
  }
}

/** Waits (bounded) until no socket is counted anywhere in the cluster: the releases of the last test have landed. */
export async function drained(instance: Instance): Promise<void> {
  await poll(
    'the cluster to count no socket',
    async () => Object.fromEntries(await instance.app.websockets.slots.distribution()),
    (owners) => Object.keys(owners).length === 0,
  );
}

/** A frame without its timestamp (the asker stamps message_received a moment before the broadcast does). */
export const untimed = ({ timestamp: _timestamp, ...rest }: Record<string, unknown>) => rest;
