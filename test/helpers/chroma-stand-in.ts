// A stand-in ChromaDB: node:http on 127.0.0.1, an ephemeral port, the subset of Chroma's /api/v2 that
// ChromaVectorIndex (through the chromadb v3 client) uses, Chroma's error body ({"error", "message"}), real semantics
// in memory (tenant default_tenant, database default_database): GET heartbeat, pre-flight-checks (base64 embeddings,
// as Chroma 1.x); under …/collections: POST (create; 409 when it exists unless get_or_create; space from
// configuration.hnsw.space or metadata "hnsw:space", else Chroma's default l2, and distances follow it), GET /{name}
// (404 when missing), DELETE /{name} (404 when missing), GET /{id}/count, POST /{id}/upsert (the first embedding fixes the dimension, another is Chroma's 400; metadata
// values scalars or arrays of one scalar type; an existing id KEEPS the metadata keys the new metadata lacks: Chroma
// merges on upsert), /query, /get, /delete (where: $eq or its short form, $and, $or). Anything else is unexpected:
// answered 400 naming it, recorded for assertNoUnexpected(). Knobs: hang() (accept, never answer), failWith(status,
// body?) (every request answered so), maxBatchSize (the pre-flight answer).
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** The text of failWith()'s default body: an adapter must never let it reach its own errors. */
export const CHROMA_FAILURE_TEXT = 'stand-in failure: sqlite file /chroma/secret.sqlite3 is corrupt';

export type ChromaRequest = { method: string; path: string; body: unknown };

const COLLECTIONS =
  /^\/api\/v2\/tenants\/default_tenant\/databases\/default_database\/collections(?:\/([^/]+)(?:\/(\w+))?)?$/;

type Value = string | number | boolean | string[] | number[] | boolean[];

export interface ChromaCollection {
  id: string;
  name: string;
  space: string;
  metadata: Record<string, unknown> | null;
  configuration: Record<string, unknown>;
  dimension: number | null;
  records: Map<string, { embedding: number[]; metadata: Record<string, Value> }>;
}

export interface ChromaStandIn {
  url: string;
  requests: ChromaRequest[];
  collection(name: string): ChromaCollection | undefined;
  hang(): void;
  failWith(status: number | null, body?: string): void;
  unexpected(): string[];
  assertNoUnexpected(): void;
  close(): Promise<void>;
}

class Answer extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    message: string,
    readonly unexpected = false,
  ) {
    super(message);
  }
}
const unexpected = (what: string) =>
  new Answer(400, 'InvalidArgumentError', `chroma stand-in: unexpected request: ${what}`, true);
const invalid = (message: string) => new Answer(400, 'InvalidArgumentError', message);

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isScalar = (value: unknown): value is string | number | boolean =>
  typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';

function fields(body: unknown, allowed: string[], what: string): Record<string, unknown> {
  if (!isRecord(body)) throw unexpected(`${what}: the body is not a JSON object`);
  const extra = Object.keys(body).filter((key) => !allowed.includes(key));
  if (extra.length > 0) throw unexpected(`${what}: body fields ${extra.join(', ')}`);
  return body;
}

function embeddingOf(value: unknown): number[] {
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'base64');
    return Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4));
  }
  if (Array.isArray(value) && value.every((x) => typeof x === 'number')) return value.map(Math.fround);
  throw unexpected(`an embedding neither base64 nor numbers: ${JSON.stringify(value)}`);
}

function distance(space: string, a: number[], b: number[]): number {
  const dot = a.reduce((sum, x, i) => sum + x * (b[i] ?? 0), 0);
  if (space === 'cosine') return 1 - dot / (Math.hypot(...a) * Math.hypot(...b));
  if (space === 'ip') return 1 - dot;
  return a.reduce((sum, x, i) => sum + (x - (b[i] ?? 0)) ** 2, 0);
}

function whereHolds(where: unknown, metadata: Record<string, Value>): boolean {
  if (where === undefined || where === null) return true;
  if (!isRecord(where) || Object.keys(where).length !== 1)
    throw invalid(`Expected where to have exactly one operator, got ${JSON.stringify(where)}`);
  const [[key, operand]] = Object.entries(where) as [[string, unknown]];
  if (key === '$and' || key === '$or') {
    if (!Array.isArray(operand) || operand.length < 2)
      throw invalid(`Expected ${key} of two clauses or more`);
    const holds = (clause: unknown) => whereHolds(clause, metadata);
    return key === '$and' ? operand.every(holds) : operand.some(holds);
  }
  const expression = isRecord(operand) ? operand : { $eq: operand };
  const [[operator, wanted]] = Object.entries(expression) as [[string, unknown]];
  if (Object.keys(expression).length !== 1 || operator !== '$eq' || !isScalar(wanted))
    throw unexpected(`where clause ${JSON.stringify({ [key]: operand })}`);
  return metadata[key] === wanted; // a missing key, or an array value, never equals a scalar
}

export async function startChromaStandIn(options: { maxBatchSize?: number } = {}): Promise<ChromaStandIn> {
  const byName = new Map<string, ChromaCollection>();
  const requests: ChromaRequest[] = [];
  let surprises: string[] = [];
  let hanging = false;
  let failure: { status: number; body: string } | null = null;
  const sockets = new Set<Socket>();

  const place = { tenant: 'default_tenant', database: 'default_database', log_position: 0, version: 0 };
  const described = ({ id, name, configuration, metadata, dimension }: ChromaCollection) => ({
    ...{ id, name, metadata, dimension, ...place, schema: null },
    configuration_json: configuration,
  });
  const byId = (id: string) => {
    const found = [...byName.values()].find((c) => c.id === id);
    if (!found) throw new Answer(404, 'NotFoundError', `Collection [${id}] does not exist`);
    return found;
  };
  const checkDimension = (c: ChromaCollection, embeddings: number[][]) => {
    const dimension = c.dimension ?? embeddings[0]?.length ?? null;
    if (embeddings.some((e) => e.length !== embeddings[0]?.length))
      throw invalid('Inconsistent dimensions in provided embeddings');
    const wrong = embeddings.find((e) => e.length !== dimension)?.length;
    if (wrong) throw invalid(`Collection expecting embedding with dimension of ${dimension}, got ${wrong}`);
    return dimension;
  };
  const select = (c: ChromaCollection, ids: unknown, where: unknown) =>
    [...c.records].filter(
      ([id, r]) => (!Array.isArray(ids) || ids.includes(id)) && whereHolds(where, r.metadata),
    );

  function createCollection(body: unknown): unknown {
    const allowed = ['name', 'configuration', 'metadata', 'get_or_create', 'schema'];
    const { name, configuration, metadata, get_or_create: getOrCreate } = fields(body, allowed, 'create');
    if (typeof name !== 'string' || !/^[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]$/.test(name))
      throw invalid(`Expected a name of 3-512 characters [a-zA-Z0-9._-], got ${JSON.stringify(name)}`);
    const found = byName.get(name);
    if (found && getOrCreate === true) return described(found);
    if (found) throw new Answer(409, 'ChromaError', `Collection [${name}] already exists`);
    const given = isRecord(configuration) ? configuration : {};
    const hnsw = isRecord(given.hnsw) ? given.hnsw : {};
    const space = hnsw.space ?? (isRecord(metadata) ? metadata['hnsw:space'] : undefined) ?? 'l2';
    if (typeof space !== 'string') throw unexpected(`space ${JSON.stringify(space)}`);
    const index = { space, ef_construction: 100, ef_search: 100, max_neighbors: 16, resize_factor: 1.2 };
    const made = { hnsw: index, spann: null, embedding_function: given.embedding_function ?? null };
    const kept = isRecord(metadata) ? metadata : null;
    const base = { id: randomUUID(), name, space, configuration: made, dimension: null, metadata: kept };
    const created: ChromaCollection = { ...base, records: new Map() };
    byName.set(name, created);
    return described(created);
  }

  function upsert(c: ChromaCollection, body: unknown): unknown {
    const allowed = ['ids', 'embeddings', 'metadatas', 'documents', 'uris'];
    const { ids, embeddings, metadatas } = fields(body, allowed, 'upsert');
    if (!Array.isArray(ids) || !Array.isArray(embeddings) || ids.length !== embeddings.length)
      throw unexpected('upsert without as many ids as embeddings');
    if (new Set(ids).size !== ids.length) throw invalid('Expected IDs to be unique');
    const vectors = embeddings.map(embeddingOf);
    c.dimension = checkDimension(c, vectors);
    ids.forEach((id, i) => {
      const given: unknown = Array.isArray(metadatas) ? metadatas[i] : null;
      const merged: Record<string, unknown> = { ...c.records.get(String(id))?.metadata };
      for (const [key, value] of Object.entries(isRecord(given) ? given : {})) {
        const list = Array.isArray(value) && value.every((x) => isScalar(x) && typeof x === typeof value[0]);
        if (value !== null && !isScalar(value) && !(list && value.length > 0))
          throw invalid(`Expected metadata value for key ${key} to be a str, int, float, bool or list`);
        if (value === null) delete merged[key];
        else merged[key] = value;
      }
      c.records.set(String(id), { embedding: vectors[i] ?? [], metadata: merged as Record<string, Value> });
    });
    return {};
  }

  function route(method: string, path: string, body: unknown): unknown {
    if (method === 'GET' && path === '/api/v2/heartbeat')
      return { 'nanosecond heartbeat': Number(process.hrtime.bigint()) };
    if (method === 'GET' && path === '/api/v2/pre-flight-checks')
      return { max_batch_size: options.maxBatchSize ?? 1000, supports_base64_encoding: true };
    const match = COLLECTIONS.exec(path);
    const target = decodeURIComponent(match?.[1] ?? '');
    switch (match ? `${method} ${match[1] === undefined ? '' : 'one'}/${match[2] ?? ''}` : '') {
      case 'POST /':
        return createCollection(body);
      case 'GET one/': {
        const found = byName.get(target);
        if (!found) throw new Answer(404, 'NotFoundError', `Collection [${target}] does not exist`);
        return described(found);
      }
      case 'DELETE one/': {
        if (!byName.delete(target))
          throw new Answer(404, 'NotFoundError', `Collection [${target}] does not exist`);
        return null;
      }
      case 'GET one/count':
        return byId(target).records.size;
      case 'POST one/upsert':
        return upsert(byId(target), body);
      case 'POST one/query': {
        const allowed = ['query_embeddings', 'n_results', 'where', 'where_document', 'include', 'ids'];
        const { query_embeddings: queries, n_results: n, where, include } = fields(body, allowed, 'query');
        const c = byId(target);
        if (!Array.isArray(queries) || !Array.isArray(include)) throw unexpected('query without embeddings');
        const vectors = queries.map(embeddingOf);
        if (c.dimension !== null) checkDimension(c, vectors);
        const found = vectors.map((vector) =>
          select(c, undefined, where)
            .map(([id, r]) => ({ id, r, d: Math.fround(distance(c.space, r.embedding, vector)) }))
            .sort((a, b) => a.d - b.d)
            .slice(0, Number(n ?? 10)),
        );
        const column = (name: string, of: (row: (typeof found)[number][number]) => unknown) =>
          include.includes(name) ? found.map((rows) => rows.map(of)) : null;
        const ids = found.map((rows) => rows.map((row) => row.id));
        const [distances, metadatas] = [
          column('distances', (r) => r.d),
          column('metadatas', (r) => r.r.metadata),
        ];
        return { ids, distances, metadatas, documents: null, embeddings: null, uris: null, include };
      }
      case 'POST one/get': {
        const allowed = ['ids', 'where', 'where_document', 'include', 'limit', 'offset'];
        const { ids, where, include = [] } = fields(body, allowed, 'get');
        if (!Array.isArray(include)) throw unexpected('get with an include that is not a list');
        const rows = select(byId(target), ids, where);
        const metadatas = include.includes('metadatas') ? rows.map(([, r]) => r.metadata) : null;
        return {
          ids: rows.map(([id]) => id),
          metadatas,
          documents: null,
          embeddings: null,
          uris: null,
          include,
        };
      }
      case 'POST one/delete': {
        const { ids, where } = fields(body, ['ids', 'where', 'where_document', 'limit'], 'delete');
        if (ids === undefined && where === undefined) throw unexpected('delete with neither ids nor where');
        const c = byId(target);
        for (const [id] of select(c, ids, where)) c.records.delete(id);
        return {};
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
      const path = new URL(req.url ?? '/', 'http://stand-in').pathname;
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch {
        // kept as text: an unexpected request
      }
      const method = req.method ?? '';
      requests.push({ method, path, body });
      if (hanging) return;
      if (failure) return void send(res, failure.status, failure.body);
      try {
        if (typeof body === 'string') throw unexpected(`${method} ${path}: a body that is not JSON`);
        send(res, 200, JSON.stringify(route(method, path, body)));
      } catch (error) {
        if (!(error instanceof Answer)) throw error;
        if (error.unexpected) surprises.push(error.message);
        send(res, error.status, JSON.stringify({ error: error.error, message: error.message }));
      }
    });
  });
  server.on('connection', (socket: Socket) => sockets.add(socket.on('close', () => sockets.delete(socket))));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    collection: (name) => byName.get(name),
    hang: () => void (hanging = true),
    failWith: (status, body = JSON.stringify({ error: 'InternalError', message: CHROMA_FAILURE_TEXT })) => {
      failure = status === null ? null : { status, body };
      if (status === null) hanging = false;
    },
    unexpected: () => [...surprises],
    assertNoUnexpected: () => {
      const seen = surprises;
      surprises = [];
      if (seen.length > 0)
        throw new Error(`The Chroma stand-in got unexpected requests:\n${seen.join('\n')}`);
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
