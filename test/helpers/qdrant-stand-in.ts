// A stand-in Qdrant: node:http on 127.0.0.1, an ephemeral port, the subset of Qdrant's REST API QdrantVectorIndex
// uses, in Qdrant's envelope ({"result", "status": "ok", "time"}; errors {"status": {"error"}, "time"}), with real
// semantics in memory: GET /collections; GET, PUT, DELETE /collections/{name} (info with config.params.vectors;
// create, 409 when it exists; 404 when missing; delete: whether it existed); under /collections/{name}/points: PUT (upsert, a point replaced whole; without
// wait=true only acknowledged and applied 30 ms later, as Qdrant may), POST (retrieve), POST /query (cosine on
// float32 normalized vectors, best first), POST /count, POST /delete (points or filter). Point ids: unsigned integers
// or UUIDs; another vector size: Qdrant's 400. Filters: must / should / must_not, match {value} (string, integer or
// boolean, as Qdrant), range {gte, lte}, is_empty, is_null, on dotted paths, an array field matching when any element
// does (as Qdrant). Anything else is unexpected: answered 400 naming it, recorded for assertNoUnexpected().
// Knobs: hang() (accept, never answer), failWith(status, body?) (every request answered so).
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** The text of failWith()'s default body: an adapter must never let it reach its own errors. */
export const QDRANT_FAILURE_TEXT = 'Service internal error: stand-in segment 7 failed (/qdrant/secret)';

export type QdrantRequest = { method: string; path: string; query: Record<string, string>; body: unknown };

export type QdrantPoint = { id: string | number; vector: number[]; payload: Record<string, unknown> };
export type QdrantCollection = { size: number; distance: string; points: Map<string, QdrantPoint> };

export interface QdrantStandIn {
  url: string;
  requests: QdrantRequest[];
  collection(name: string): QdrantCollection | undefined;
  /** From now on, accept every request and never answer it. */
  hang(): void;
  /** From now on, answer every request with this status and body (null: normal again, also after hang()). */
  failWith(status: number | null, body?: string): void;
  unexpected(): string[];
  /** Throws listing the unexpected requests since the last call (and forgets them). */
  assertNoUnexpected(): void;
  close(): Promise<void>;
}

class Answer extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly unexpected = false,
  ) {
    super(message);
  }
}
const unexpected = (what: string) => new Answer(400, `qdrant stand-in: unexpected request: ${what}`, true);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PATH_KEY = /^[\p{L}\p{N}_-]+$/u;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function fields(body: unknown, allowed: string[], what: string): Record<string, unknown> {
  if (!isRecord(body)) throw unexpected(`${what}: the body is not a JSON object`);
  const extra = Object.keys(body).filter((key) => !allowed.includes(key));
  if (extra.length > 0) throw unexpected(`${what}: body fields ${extra.join(', ')}`);
  return body;
}

function pointId(id: unknown): string | number {
  if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) return id;
  if (typeof id === 'string' && UUID.test(id)) return id.toLowerCase();
  throw new Answer(400, `Format error in JSON body: value ${JSON.stringify(id)} is not a valid point ID`);
}

function vectorOf(value: unknown, size: number): number[] {
  if (!Array.isArray(value) || !value.every((x) => typeof x === 'number'))
    throw unexpected('not a plain vector');
  if (value.length !== size)
    throw new Answer(400, `Wrong input: Vector dimension error: expected dim: ${size}, got ${value.length}`);
  return value.map((x: number) => x);
}

/** Float32, normalized: what Qdrant keeps of a Cosine vector (and does to a Cosine query). */
function normalized(vector: number[]): number[] {
  const norm = Math.hypot(...vector) || 1;
  return vector.map((x) => Math.fround(x / norm));
}

/** The values at a dotted path, arrays flattened at each step, as Qdrant reads a payload. */
function valuesAt(payload: Record<string, unknown>, key: unknown): unknown[] {
  if (typeof key !== 'string' || !key.split('.').every((part) => PATH_KEY.test(part)))
    throw unexpected(`a payload key Qdrant would need quoted or indexed: ${JSON.stringify(key)}`);
  let values: unknown[] = [payload];
  for (const part of key.split('.'))
    values = values
      .flatMap((value: unknown): unknown[] => (Array.isArray(value) ? value : [value]))
      .flatMap((value) => (isRecord(value) && Object.hasOwn(value, part) ? [value[part]] : []));
  return values.flatMap((value: unknown): unknown[] => (Array.isArray(value) ? value : [value]));
}

function conditionHolds(condition: unknown, payload: Record<string, unknown>): boolean {
  if (!isRecord(condition)) throw unexpected('a condition that is not an object');
  if ('must' in condition || 'should' in condition || 'must_not' in condition)
    return filterHolds(condition, payload);
  if (isRecord(condition.is_empty))
    return valuesAt(payload, condition.is_empty.key).every((value) => value === null);
  if (isRecord(condition.is_null)) return valuesAt(payload, condition.is_null.key).includes(null);
  const { key, match, range, ...rest } = condition;
  if (Object.keys(rest).length > 0) throw unexpected(`condition fields ${Object.keys(rest).join(', ')}`);
  const values = valuesAt(payload, key);
  if (isRecord(match) && Object.keys(match).length === 1 && 'value' in match) {
    const wanted = match.value;
    if (!(typeof wanted === 'string' || typeof wanted === 'boolean' || Number.isSafeInteger(wanted)))
      throw unexpected(
        `match.value ${JSON.stringify(wanted)}: Qdrant matches strings, integers and booleans only`,
      );
    return values.some((value) => value === wanted);
  }
  const { gte, lte, ...more } = isRecord(range) ? range : {};
  if (typeof gte === 'number' && typeof lte === 'number' && !Object.keys(more).length && match === undefined)
    return values.some((value) => typeof value === 'number' && value >= gte && value <= lte);
  throw unexpected(`condition ${JSON.stringify(condition)}`);
}

function filterHolds(filter: unknown, payload: Record<string, unknown>): boolean {
  if (filter === undefined || filter === null) return true;
  const { must, should, must_not: mustNot } = fields(filter, ['must', 'should', 'must_not'], 'filter');
  const list = (conditions: unknown): unknown[] =>
    Array.isArray(conditions) ? conditions : conditions ? [conditions] : [];
  return (
    list(must).every((c) => conditionHolds(c, payload)) &&
    (should === undefined || list(should).some((c) => conditionHolds(c, payload))) &&
    !list(mustNot).some((c) => conditionHolds(c, payload))
  );
}

export async function startQdrantStandIn(): Promise<QdrantStandIn> {
  const collections = new Map<string, QdrantCollection>();
  const requests: QdrantRequest[] = [];
  let surprises: string[] = [];
  let hanging = false;
  let failure: { status: number; body: string } | null = null;
  let operationId = 0;
  const sockets = new Set<Socket>();

  const existing = (name: string) => {
    const found = collections.get(name);
    if (!found) throw new Answer(404, `Not found: Collection \`${name}\` doesn't exist!`);
    return found;
  };
  const write = (query: Record<string, string>, apply: () => void) => {
    if (query.wait === 'true') apply();
    else setTimeout(apply, 30);
    return { operation_id: ++operationId, status: query.wait === 'true' ? 'completed' : 'acknowledged' };
  };

  function route(request: QdrantRequest): unknown {
    const { method, path, query, body } = request;
    if (method === 'GET' && path === '/collections')
      return { collections: [...collections.keys()].map((name) => ({ name })) };
    const match = /^\/collections\/([^/]+)(\/points(?:\/(query|count|delete))?)?$/.exec(path);
    const name = decodeURIComponent(match?.[1] ?? '');
    const action = `${method} ${match?.[2] === undefined ? '' : (match[3] ?? 'points')}`;
    if (!match) throw unexpected(`${method} ${path}: not a route this stand-in implements`);
    switch (action) {
      case 'GET ': {
        const { size, distance, points } = existing(name);
        const params = { vectors: { size, distance }, shard_number: 1, replication_factor: 1 };
        const config = { params, hnsw_config: { m: 16, ef_construct: 100 }, optimizer_config: {} };
        const counts = { indexed_vectors_count: 0, points_count: points.size, segments_count: 1 };
        return { status: 'green', optimizer_status: 'ok', ...counts, config, payload_schema: {} };
      }
      case 'PUT ': {
        const { vectors } = fields(body, ['vectors'], 'create collection');
        if (!isRecord(vectors) || !Number.isSafeInteger(vectors.size) || vectors.distance !== 'Cosine')
          throw unexpected(`create collection with vectors ${JSON.stringify(vectors)}`);
        if (collections.has(name))
          throw new Answer(409, `Wrong input: Collection \`${name}\` already exists!`);
        collections.set(name, { size: vectors.size as number, distance: 'Cosine', points: new Map() });
        return true;
      }
      case 'DELETE ':
        return collections.delete(name);
      case 'PUT points': {
        const target = existing(name);
        const { points } = fields(body, ['points'], 'upsert');
        if (!Array.isArray(points)) throw unexpected('upsert without a list of points');
        const checked = points.map((point: unknown) => {
          const { id, vector, payload } = fields(point, ['id', 'vector', 'payload'], 'point');
          const values = normalized(vectorOf(vector, target.size));
          return { id: pointId(id), vector: values, payload: isRecord(payload) ? payload : {} };
        });
        return write(query, () => checked.forEach((point) => target.points.set(String(point.id), point)));
      }
      case 'POST points': {
        const allowed = ['ids', 'with_payload', 'with_vector'];
        const { ids, with_payload: withPayload } = fields(body, allowed, 'retrieve');
        if (!Array.isArray(ids)) throw unexpected('retrieve without ids');
        const { points } = existing(name);
        return ids.flatMap((id) => {
          const point = points.get(String(pointId(id)));
          return point ? [{ id: point.id, payload: withPayload === true ? point.payload : null }] : [];
        });
      }
      case 'POST query': {
        const allowed = ['query', 'limit', 'filter', 'with_payload', 'with_vector'];
        const asked = fields(body, allowed, 'query');
        const target = existing(name);
        const unit = normalized(vectorOf(asked.query, target.size));
        return {
          points: [...target.points.values()]
            .filter((point) => filterHolds(asked.filter, point.payload))
            .map((point) => ({
              point,
              score: point.vector.reduce((sum, x, i) => sum + x * (unit[i] ?? 0), 0),
            }))
            .sort((a, b) => b.score - a.score || String(a.point.id).localeCompare(String(b.point.id)))
            .slice(0, Number(asked.limit ?? 10))
            .map(({ point, score }) => ({
              id: point.id,
              version: 0,
              score: Math.fround(score),
              ...(asked.with_payload === true ? { payload: point.payload } : {}),
            })),
        };
      }
      case 'POST count': {
        const { filter } = fields(body, ['filter', 'exact'], 'count');
        const points = [...existing(name).points.values()];
        return { count: points.filter((p) => filterHolds(filter, p.payload)).length };
      }
      case 'POST delete': {
        const { points, filter } = fields(body, ['points', 'filter'], 'delete');
        const target = existing(name);
        if (Array.isArray(points) === (filter !== undefined))
          throw unexpected('delete needs points or a filter');
        const doomed = Array.isArray(points)
          ? points.map((id) => String(pointId(id)))
          : [...target.points.entries()].filter(([, p]) => filterHolds(filter, p.payload)).map(([id]) => id);
        return write(query, () => doomed.forEach((id) => target.points.delete(id)));
      }
      default:
        throw unexpected(`${method} ${path}: not a route this stand-in implements`);
    }
  }

  const send = (res: ServerResponse, status: number, body: string) =>
    res.writeHead(status, { 'content-type': 'application/json' }).end(body);

  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://stand-in');
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch {
        // kept as text: an unexpected request
      }
      const query = Object.fromEntries(url.searchParams);
      const request = { method: req.method ?? '', path: url.pathname, query, body };
      requests.push(request);
      if (hanging) return;
      if (failure) return void send(res, failure.status, failure.body);
      const started = process.hrtime.bigint();
      const time = () => Number(process.hrtime.bigint() - started) / 1e9;
      try {
        if (typeof body === 'string')
          throw unexpected(`${request.method} ${request.path}: a body that is not JSON`);
        send(res, 200, JSON.stringify({ result: route(request), status: 'ok', time: time() }));
      } catch (error) {
        if (!(error instanceof Answer)) throw error;
        if (error.unexpected) surprises.push(error.message);
        send(res, error.status, JSON.stringify({ status: { error: error.message }, time: time() }));
      }
    });
  });
  server.on('connection', (socket: Socket) => sockets.add(socket.on('close', () => sockets.delete(socket))));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    collection: (name) => collections.get(name),
    hang: () => void (hanging = true),
    failWith: (status, body = JSON.stringify({ status: { error: QDRANT_FAILURE_TEXT }, time: 0.0001 })) => {
      failure = status === null ? null : { status, body };
      if (status === null) hanging = false;
    },
    unexpected: () => [...surprises],
    assertNoUnexpected: () => {
      const seen = surprises;
      surprises = [];
      if (seen.length > 0)
        throw new Error(`The Qdrant stand-in got unexpected requests:\n${seen.join('\n')}`);
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
