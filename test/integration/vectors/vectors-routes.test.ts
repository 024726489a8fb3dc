// /api/v1/vectors on the embedded index (the default, and `faiss`), on both dialects: store, replace, search order,
// filter, delete, dimension mismatch, isolation between users, the text forms through the stand-in LLM, every bad
// input a clear 4xx, unknown and unconfigured backends, 50 concurrent stores of one id, and persistence across an
// app restart.
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { buildApp, type App } from '../../../src/app.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { embedding } from '../../helpers/llm-stand-in-wire.js';

interface Match {
  id: string;
  score: number;
  metadata: Record<string, unknown>;
}

describeEachDialect('vectors on the embedded index', (dialect) => {
  let llm: LlmStandIn;
  let t: TestApp;
  let app: App;
  let alice: string;
  let bob: string;

  const call = (token: string, method: 'POST' | 'DELETE', url: string, payload?: object) =>
    app.inject({ method, url, headers: bearer(token), ...(payload === undefined ? {} : { payload }) });
  const store = (token: string, body: object, query = '') =>
    call(token, 'POST', `/api/v1/vectors/store${query}`, body);
  const search = (token: string, body: object, query = '') =>
    call(token, 'POST', `/api/v1/vectors/search${query}`, body);

  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['all-minilm:latest'] });
    t = await buildTestApp({ dialect, env: { OLLAMA_URL: llm.url, EMBEDDING_MODEL: 'all-minilm' } });
    app = t.app;
    alice = (await registerAndLogin(app)).tokens.access_token;
    bob = (await registerAndLogin(app)).tokens.access_token;
  });
  afterEach(() => llm.assertNoUnexpected());
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  it('stores, replaces by id, searches best first with cosine scores, filters and deletes', async () => {
    const stored = await store(alice, { id: 'east', vector: [1, 0, 0], metadata: { side: 'east', n: 1 } });
    expect(stored.statusCode, stored.body).toBe(200);
    expect(stored.json()).toEqual({
      status: 'success',
      database: 'embedded',
      collection: expect.stringMatching(/^user_\d+_vectors$/) as string,
      vector_id: 'east',
      dimension: 3,
    });
    for (const [id, vector, side] of [
      ['north', [0, 1, 0], 'north'],
      ['north-east', [1, 1, 0], 'east'],
      ['west', [-1, 0, 0], 'west'],
    ] as const) {
      expect((await store(alice, { id, vector, metadata: { side } })).statusCode).toBe(200);
    }
    const found = await search(alice, { query: [1, 0.1, 0], k: 4 });
    expect(found.statusCode, found.body).toBe(200);
    const matches = found.json<Match[]>();
    expect(matches.map((m) => m.id)).toEqual(['east', 'north-east', 'north', 'west']);
    const cosine = (a: number[], b: number[]) =>
      a.reduce((sum, x, i) => sum + x * (b[i] ?? 0), 0) / (Math.hypot(...a) * Math.hypot(...b));
    expect(matches[0]?.score).toBeCloseTo(cosine([1, 0.1, 0], [1, 0, 0]), 5);
    expect(matches[3]?.score).toBeCloseTo(-cosine([1, 0.1, 0], [1, 0, 0]), 5);
    expect(matches[0]?.metadata).toEqual({ side: 'east', n: 1 });

    // k defaults to 5, and limits
    expect((await search(alice, { query: [1, 0, 0], k: 2 })).json<Match[]>()).toHaveLength(2);
    // filter: exact match on each key
    const east = (await search(alice, { query: [0, 1, 0], filter: { side: 'east' } })).json<Match[]>();
    expect(east.map((m) => m.id)).toEqual(['north-east', 'east']);
    expect(
      (await search(alice, { query: [0, 1, 0], filter: { side: 'east', n: 1 } })).json<Match[]>(),
    ).toHaveLength(1);
    expect((await search(alice, { query: [0, 1, 0], filter: { nothing: 'here' } })).json()).toEqual([]);

    // storing an existing id replaces the point: west now points north, with new metadata
    expect(
      (await store(alice, { id: 'west', vector: [0, 1, 0.01], metadata: { moved: true } })).statusCode,
    ).toBe(200);
    const now = (await search(alice, { query: [0, 1, 0], k: 10 })).json<Match[]>();
    expect(now.filter((m) => m.id === 'west')).toHaveLength(1);
    expect(now.slice(0, 2).map((m) => m.id)).toEqual(['north', 'west']);
    expect(now.find((m) => m.id === 'west')?.metadata).toEqual({ moved: true });

    const deleted = await call(alice, 'DELETE', '/api/v1/vectors/west');
    expect(deleted.statusCode, deleted.body).toBe(200);
    expect(deleted.json()).toEqual({ status: 'success', database: 'embedded', deleted_id: 'west' });
    const again = await call(alice, 'DELETE', '/api/v1/vectors/west');
    expect(again.statusCode).toBe(404);
    expect(again.json()).toMatchObject({ code: 'vector_not_found' });
    expect((await search(alice, { query: [0, 1, 0], k: 10 })).json<Match[]>().map((m) => m.id)).not.toContain(
      'west',
    );
  });

  it('fixes a collection’s dimension by its first vector: another is a 422 on store and on search', async () => {
    const { tokens } = await registerAndLogin(app);
    expect((await store(tokens.access_token, { id: 'a', vector: [0.5, 0.5] })).statusCode).toBe(200);
    const wrong = await store(tokens.access_token, { id: 'b', vector: [1, 2, 3] });
    expect(wrong.statusCode).toBe(422);
    expect(wrong.json()).toMatchObject({
      code: 'dimension_mismatch',
      detail: expect.stringContaining('dimension 2') as string,
    });
    const query = await search(tokens.access_token, { query: [1, 2, 3] });
    expect(query.statusCode).toBe(422);
    // nothing was stored by the refused call
    expect(
      (await search(tokens.access_token, { query: [1, 1], k: 100 })).json<Match[]>().map((m) => m.id),
    ).toEqual(['a']);
  });

  it('keeps users apart: bob sees none of alice’s vectors, cannot delete them, and has his own dimension', async () => {
    expect(
      (await store(alice, { id: 'shared-id', vector: [0.3, 0.3, 0.3], metadata: { owner: 'alice' } }))
        .statusCode,
    ).toBe(200);
    expect((await search(bob, { query: [1, 1, 1], k: 100 })).json()).toEqual([]);
    expect((await call(bob, 'DELETE', '/api/v1/vectors/shared-id')).statusCode).toBe(404);
    // bob's collection is his own: another dimension, the same id
    expect(
      (await store(bob, { id: 'shared-id', vector: [1, 2, 3, 4], metadata: { owner: 'bob' } })).statusCode,
    ).toBe(200);
    const his = (await search(bob, { query: [1, 2, 3, 4] })).json<Match[]>();
    expect(his).toEqual([
      { id: 'shared-id', score: expect.closeTo(1, 5) as number, metadata: { owner: 'bob' } },
    ]);
    const hers = (await search(alice, { query: [0.3, 0.3, 0.3], k: 100 })).json<Match[]>();
    expect(hers.find((m) => m.id === 'shared-id')?.metadata).toEqual({ owner: 'alice' });
  });

  it('treats faiss as the embedded index, refuses unknown backends with the list, and unconfigured ones with a 503', async () => {
    const { tokens } = await registerAndLogin(app);
    const viaFaiss = await store(tokens.access_token, { id: 'f', vector: [1, 2] }, '?database=faiss');
    expect(viaFaiss.statusCode, viaFaiss.body).toBe(200);
    expect(viaFaiss.json()).toMatchObject({ database: 'faiss' });
    expect(
      (await search(tokens.access_token, { query: [1, 2] }, '?database=embedded')).json<Match[]>()[0]?.id,
    ).toBe('f');
    expect(
      (await search(tokens.access_token, { query: [1, 2] }, '?database=FAISS')).json<Match[]>()[0]?.id,
    ).toBe('f');

    const unknown = await search(tokens.access_token, { query: [1, 2] }, '?database=pinecone%3Cb%3E');
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json()).toMatchObject({
      code: 'unsupported_database',
      detail: 'Unsupported database: pinecone<b>. Use: embedded, faiss, qdrant, chromadb',
    });
    expect(unknown.body).not.toContain('<b>');
    for (const [name, setting] of [
      ['qdrant', 'QDRANT_URL'],
      ['chromadb', 'CHROMADB_URL'],
    ]) {
      for (const response of [
        await store(tokens.access_token, { id: 'x', vector: [1, 2] }, `?database=${name}`),
        await search(tokens.access_token, { query: [1, 2] }, `?database=${name}`),
        await call(tokens.access_token, 'DELETE', `/api/v1/vectors/x?database=${name}`),
      ]) {
        expect(response.statusCode).toBe(503);
        expect(response.json()).toMatchObject({
          code: 'vector_backend_not_configured',
          detail: `${name} is not configured on this server (${setting} is unset)`,
        });
      }
    }
  });

  it('answers every bad input with a clear 4xx and stores nothing', async () => {
    const { tokens } = await registerAndLogin(app);
    const token = tokens.access_token;
    const bad: [object, number][] = [
      [{}, 422],
      [{ id: 'a' }, 422],
      [{ id: 'a', vector: [] }, 422],
      [{ id: 'a', vector: 'not a vector' }, 422],
      [{ id: 'a', vector: [1, '2'] }, 422],
      [{ id: 'a', vector: [0, 0, 0] }, 422],
      [{ id: '', vector: [1] }, 422],
      [{ id: 'x'.repeat(257), vector: [1] }, 422],
      [{ id: 7, vector: [1] }, 422],
      [{ id: 'a', vector: [1], metadata: 'text' }, 422],
      [{ id: 'a', vector: [1], metadata: [1, 2] }, 422],
      [{ id: 'a', vector: Array.from({ length: 4097 }, () => 1) }, 422],
      [[1, 2, 3], 422],
    ];
    for (const [body, status] of bad) {
      const response = await store(token, body);
      expect(response.statusCode, `${JSON.stringify(body).slice(0, 80)} → ${response.body}`).toBe(status);
      expect(response.json()).toHaveProperty('detail');
    }
    const zero = await store(token, { id: 'z', vector: [0, 0] });
    expect(zero.json()).toMatchObject({
      code: 'invalid_vector',
      detail: expect.stringContaining('all zeros') as string,
    });
    for (const body of [
      { query: [1], k: 0 },
      { query: [1], k: 101 },
      { query: [1], k: 2.5 },
      { query: [1], filter: { 'a.b': 1 } },
      { query: [1], filter: { "x') OR 1=1 --": 1 } },
      { query: [1], filter: 'side' },
      { query: [0] },
      { k: 3 },
    ]) {
      const response = await search(token, body);
      expect(response.statusCode, `${JSON.stringify(body)} → ${response.body}`).toBe(422);
    }
    const huge = await store(token, { id: 'h', vector: [1], metadata: { text: 'x'.repeat(2_000_000) } });
    expect(huge.statusCode).toBe(413);
    const anonymous = await app.inject({
      method: 'POST',
      url: '/api/v1/vectors/store',
      payload: { id: 'a', vector: [1] },
    });
    expect(anonymous.statusCode).toBe(401);
    // none of it was stored: the collection has no dimension yet, so any vector may start it
    expect((await store(token, { id: 'first', vector: [1, 2, 3, 4, 5] })).statusCode).toBe(200);
    expect(
      (await search(token, { query: [1, 2, 3, 4, 5], k: 100 })).json<Match[]>().map((m) => m.id),
    ).toEqual(['first']);
  });

  it('refuses vectors that float32 cannot store or compare, on store and on search, and stores none of them', async () => {
    const { tokens } = await registerAndLogin(app);
    const token = tokens.access_token;
    for (const [vector, problem] of [
      [[1e39, 1, 1], 'not a finite 32-bit float'], // Infinity once stored
      [[1e-50, 1e-50, 1e-50], 'all zeros'], // zeros once stored: no direction, a NULL distance
      [[2e19, 1, 1], 'norm overflows'],
      [[1e-30, 1e-30, 1e-30], 'norm underflows'],
    ] as const) {
      const stored = await store(token, { id: 'junk', vector });
      expect(stored.statusCode, `${JSON.stringify(vector)} → ${stored.body}`).toBe(422);
      expect(stored.json()).toMatchObject({
        code: 'invalid_vector',
        detail: expect.stringContaining(problem) as string,
      });
      const searched = await search(token, { query: vector });
      expect(searched.statusCode, `${JSON.stringify(vector)} → ${searched.body}`).toBe(422);
      expect(searched.json()).toMatchObject({ code: 'invalid_vector' });
    }
    // the largest and smallest that float32 keeps whole are taken, and compared as any other
    expect((await store(token, { id: 'big', vector: [1e19, 1e19, 0] })).statusCode).toBe(200);
    expect((await store(token, { id: 'small', vector: [0, 1e-18, 1e-18] })).statusCode).toBe(200);
    const found = (await search(token, { query: [1, 1, 0], k: 10 })).json<Match[]>();
    expect(found.map((m) => m.id)).toEqual(['big', 'small']);
    expect(found[0]?.score).toBeCloseTo(1, 5);
    expect(found[1]?.score).toBeCloseTo(0.5, 5);
  });

  it('refuses metadata and filter values nested deeper than 32 levels, so filtered searches keep working', async () => {
    const { tokens } = await registerAndLogin(app);
    const token = tokens.access_token;
    /** A value of `levels` levels of objects and arrays. */
    const deep = (levels: number): unknown => {
      let value: unknown = 'leaf';
      for (let i = 0; i < levels; i++) value = i % 2 === 0 ? [value] : { d: value };
      return value;
    };
    for (const levels of [1200, 32]) {
      const stored = await store(token, { id: 'deep', vector: [1, 0], metadata: { d: deep(levels) } });
      expect(stored.statusCode, stored.body).toBe(422);
      expect(stored.json()).toMatchObject({
        code: 'invalid_metadata',
        detail: 'The metadata nests more than 32 levels of objects and arrays',
      });
      const filtered = await search(token, { query: [1, 0], filter: { d: deep(levels) } });
      expect(filtered.statusCode, filtered.body).toBe(422);
      expect(filtered.json()).toMatchObject({
        code: 'invalid_filter',
        detail: expect.stringContaining('filter nests more than 32 levels') as string,
      });
    }
    const embedded = await call(token, 'POST', '/api/v1/vectors/embed-and-store', {
      id: 'deep',
      text: 'deep',
      metadata: { d: deep(1200) },
    });
    expect(embedded.statusCode).toBe(422);
    // 32 levels, the metadata object included: stored, and found by a filter on it
    const kept = { d: deep(31) };
    expect((await store(token, { id: 'ok', vector: [1, 0], metadata: kept })).statusCode).toBe(200);
    const found = await search(token, { query: [1, 0], filter: { d: deep(31) } });
    expect(found.statusCode, found.body).toBe(200);
    expect(found.json<Match[]>()).toEqual([
      { id: 'ok', score: expect.closeTo(1, 5) as number, metadata: kept },
    ]);
    expect((await search(token, { query: [1, 0], filter: { other: 1 } })).statusCode).toBe(200);
  });

  it('caps a point’s metadata at 64 KiB of JSON (UTF-8 bytes): a 422 naming the limit', async () => {
    const { tokens } = await registerAndLogin(app);
    const token = tokens.access_token;
    const overhead = JSON.stringify({ text: '' }).length;
    for (const metadata of [
      { text: 'x'.repeat(65_536 - overhead + 1) },
      { text: 'é'.repeat(40_000) }, // 40,000 characters, 80,000 bytes
    ]) {
      const stored = await store(token, { id: 'big', vector: [1, 0], metadata });
      expect(stored.statusCode, stored.body.slice(0, 200)).toBe(422);
      expect(stored.json()).toMatchObject({
        code: 'invalid_metadata',
        detail: expect.stringContaining('more than the 65536 (64 KiB) a point may hold') as string,
      });
    }
    const exact = { text: 'x'.repeat(65_536 - overhead) };
    expect((await store(token, { id: 'fits', vector: [1, 0], metadata: exact })).statusCode).toBe(200);
    const [match] = (await search(token, { query: [1, 0] })).json<Match[]>();
    expect(match?.metadata).toEqual(exact);
  });

  it('frees a collection’s dimension once all its vectors are deleted', async () => {
    const { tokens } = await registerAndLogin(app);
    const token = tokens.access_token;
    const eight = Array.from({ length: 8 }, (_, i) => i + 1);
    const sixteen = Array.from({ length: 16 }, (_, i) => 16 - i);
    expect((await store(token, { id: 'a', vector: eight })).statusCode).toBe(200);
    expect((await store(token, { id: 'b', vector: eight.toReversed() })).statusCode).toBe(200);
    expect((await call(token, 'DELETE', '/api/v1/vectors/a')).statusCode).toBe(200);
    expect((await store(token, { id: 'c', vector: sixteen })).json()).toMatchObject({
      code: 'dimension_mismatch',
    });
    expect((await call(token, 'DELETE', '/api/v1/vectors/b')).statusCode).toBe(200);
    // empty now: searches of any dimension find nothing, and the next vector fixes the dimension again
    expect((await search(token, { query: sixteen })).json()).toEqual([]);
    const stored = await store(token, { id: 'c', vector: sixteen });
    expect(stored.statusCode, stored.body).toBe(200);
    expect(stored.json()).toMatchObject({ dimension: 16 });
    expect((await search(token, { query: sixteen })).json<Match[]>().map((m) => m.id)).toEqual(['c']);
    const old = await store(token, { id: 'd', vector: eight });
    expect(old.statusCode).toBe(422);
    expect(old.json()).toMatchObject({ detail: 'This collection holds vectors of dimension 16, not 8' });
  });

  it('keeps unicode and hostile text exactly in ids and metadata', async () => {
    const { tokens } = await registerAndLogin(app);
    const id = "🙂 ünïcødé '; DROP TABLE points; -- <script>";
    const metadata = {
      note: '<img src=x onerror=alert(1)> a < b && c',
      nested: { list: [1, 'two', null] },
      '💡': '✓',
    };
    expect((await store(tokens.access_token, { id, vector: [0.1, 0.9], metadata })).statusCode).toBe(200);
    const [match] = (await search(tokens.access_token, { query: [0.1, 0.9] })).json<Match[]>();
    expect(match).toEqual({ id, score: expect.closeTo(1, 5) as number, metadata });
    const filtered = await search(tokens.access_token, {
      query: [0.1, 0.9],
      filter: { nested: { list: [1, 'two', null] } },
    });
    expect(filtered.json<Match[]>().map((m) => m.id)).toEqual([id]);
    const deleted = await call(tokens.access_token, 'DELETE', `/api/v1/vectors/${encodeURIComponent(id)}`);
    expect(deleted.statusCode, deleted.body).toBe(200);
    expect(deleted.json()).toMatchObject({ deleted_id: id });
  });

  it('keeps one point when the same id is stored 50 times at once', async () => {
    const { tokens } = await registerAndLogin(app);
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        store(tokens.access_token, { id: 'same', vector: [1, i + 1], metadata: { i } }),
      ),
    );
    expect(answers.map((a) => a.statusCode)).toEqual(Array.from({ length: 50 }, () => 200));
    const all = (await search(tokens.access_token, { query: [1, 1], k: 100 })).json<Match[]>();
    expect(all).toHaveLength(1);
    expect(all[0]?.id).toBe('same');
  });

  it('embeds texts through the provider for embed-and-store and search-text', async () => {
    const { tokens } = await registerAndLogin(app);
    const token = tokens.access_token;
    for (const [id, text] of [
      ['cat', 'The cat sat on the mat'],
      ['stock', 'Shares fell 3 % <today>'],
    ]) {
      const stored = await call(token, 'POST', '/api/v1/vectors/embed-and-store', {
        id,
        text,
        metadata: { kind: 'note' },
      });
      expect(stored.statusCode, stored.body).toBe(200);
      expect(stored.json()).toMatchObject({
        vector_id: id,
        dimension: 16,
        model: expect.stringMatching(/^all-minilm/) as string,
        database: 'embedded',
      });
    }
    const embeds = llm.requests.filter((r) => r.path === '/api/embed');
    expect(embeds.at(-1)?.body).toMatchObject({
      model: 'all-minilm',
      input: ['Shares fell 3 % <today>'],
    });
    // the stand-in's vectors: the same text gets the same vector, so a search with it finds it first, score 1
    const found = await call(token, 'POST', '/api/v1/vectors/search-text', {
      query: 'Shares fell 3 % <today>',
      k: 2,
    });
    expect(found.statusCode, found.body).toBe(200);
    const [best] = found.json<Match[]>();
    expect(best).toEqual({
      id: 'stock',
      score: expect.closeTo(1, 5) as number,
      metadata: { kind: 'note', text: 'Shares fell 3 % <today>' },
    });
    // the raw search agrees with the stand-in's vector for that text
    const raw = (await search(token, { query: embedding('The cat sat on the mat'), k: 1 })).json<Match[]>();
    expect(raw[0]?.id).toBe('cat');

    // the provider down: a 503 of the LLM, and nothing stored
    llm.script('embed', { status: 500 }, { status: 500 }, { status: 500 }, { status: 500 });
    const failed = await call(token, 'POST', '/api/v1/vectors/embed-and-store', { id: 'lost', text: 'gone' });
    expect(failed.statusCode).toBeGreaterThanOrEqual(500);
    expect(failed.statusCode).toBeLessThan(600);
    expect(failed.statusCode).not.toBe(500);
    expect(
      (await search(token, { query: embedding('gone'), k: 100 })).json<Match[]>().map((m) => m.id),
    ).not.toContain('lost');
    // an unknown backend is refused before the model is asked
    const before = llm.requests.length;
    const unknown = await call(token, 'POST', '/api/v1/vectors/search-text?database=nope', { query: 'x' });
    expect(unknown.statusCode).toBe(400);
    expect(llm.requests.length).toBe(before);
    for (const body of [{ query: '' }, { query: 'x'.repeat(8193) }, { query: 3 }, {}]) {
      expect((await call(token, 'POST', '/api/v1/vectors/search-text', body)).statusCode).toBe(422);
    }
  });

  it('counts and times each operation by backend, and reports the embedded index as the faiss service', async () => {
    const { tokens } = await registerAndLogin(app);
    await store(tokens.access_token, { id: 'm', vector: [1, 1] }, '?database=faiss');
    await search(tokens.access_token, { query: [1, 1] });
    expect((await store(tokens.access_token, { id: 'n', vector: [1, 1, 1] })).statusCode).toBe(422);
    const metrics = (await app.inject({ url: '/metrics' })).body;
    const count = (op: string) =>
      Number(
        new RegExp(`^vector_db_operations_total\\{op="${op}",backend="embedded"\\} (\\d+)`, 'm').exec(
          metrics,
        )?.[1],
      );
    expect(count('upsert')).toBeGreaterThanOrEqual(1);
    expect(count('search')).toBeGreaterThanOrEqual(1);
    expect(metrics).toMatch(/^vector_db_operation_errors_total\{op="upsert",backend="embedded"\} [1-9]/m);
    expect(metrics).toMatch(
      /^vector_db_operation_duration_seconds_count\{op="search",backend="embedded"\} [1-9]/m,
    );
    const faiss = await app.inject({ url: '/api/v1/health/services/faiss' });
    expect(faiss.statusCode, faiss.body).toBe(200);
    expect(faiss.json()).toMatchObject({ status: 'healthy' });
  });

  it('keeps the vectors across an app restart', async () => {
    const { tokens } = await registerAndLogin(app);
    expect(
      (await store(tokens.access_token, { id: 'kept', vector: [3, 4], metadata: { a: 1 } })).statusCode,
    ).toBe(200);
    await app.close();
    app = await buildApp(t.config, { migrate: false });
    t.app = app;
    await app.ready();
    const found = (await search(tokens.access_token, { query: [3, 4] })).json<Match[]>();
    expect(found).toEqual([{ id: 'kept', score: expect.closeTo(1, 5) as number, metadata: { a: 1 } }]);
    // and replacing after the restart replaces, not duplicates
    expect((await store(tokens.access_token, { id: 'kept', vector: [4, 3] })).statusCode).toBe(200);
    expect((await search(tokens.access_token, { query: [3, 4], k: 100 })).json<Match[]>()).toHaveLength(1);
  });
});
