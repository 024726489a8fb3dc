// /api/v1/vectors?database=qdrant and ?database=chromadb through the real routes, against the stand-ins of their
// REST APIs (no real Qdrant or Chroma server runs in CI): the same answers as the embedded index for the same data,
// each user in a collection of their own, and a backend that fails answering 503 "<name> not available" without its
// text, then working again once it is back.
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, registerAndLogin } from '../../helpers/auth.js';
import {
  startChromaStandIn,
  CHROMA_FAILURE_TEXT,
  type ChromaStandIn,
} from '../../helpers/chroma-stand-in.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import {
  startQdrantStandIn,
  QDRANT_FAILURE_TEXT,
  type QdrantStandIn,
} from '../../helpers/qdrant-stand-in.js';

interface Match {
  id: string;
  score: number;
  metadata: Record<string, unknown>;
}

const POINTS: [string, number[], Record<string, unknown>][] = [
  ['a', [1, 0, 0], { side: 'east', n: 1 }],
  ['b', [0.7, 0.7, 0], { side: 'east', note: '<b>bold</b> ünï' }],
  ['c', [0, 1, 0], { side: 'north', nested: { x: [1, null] } }],
  ['d', [-1, 0.1, 0], { side: 'west' }],
];

describeEachDialect('vectors on Qdrant and Chroma (stand-ins)', (dialect) => {
  let t: TestApp;
  let qdrant: QdrantStandIn;
  let chroma: ChromaStandIn;
  let alice: string;
  let bob: string;
  const post = (token: string, url: string, payload: object) =>
    t.app.inject({ method: 'POST', url, headers: bearer(token), payload });

  beforeAll(async () => {
    qdrant = await startQdrantStandIn();
    chroma = await startChromaStandIn();
    t = await buildTestApp({
      dialect,
      env: { QDRANT_URL: qdrant.url, CHROMADB_URL: chroma.url, VECTORS_TIMEOUT_MS: '500' },
    });
    alice = (await registerAndLogin(t.app)).tokens.access_token;
    bob = (await registerAndLogin(t.app)).tokens.access_token;
  });
  afterEach(() => {
    qdrant.failWith(null);
    chroma.failWith(null);
    qdrant.assertNoUnexpected();
    chroma.assertNoUnexpected();
  });
  afterAll(async () => {
    await t?.close();
    await qdrant?.close();
    await chroma?.close();
  });

  it('answers the same on every backend for the same data, replaces by id and deletes', async () => {
    const results: Record<string, Match[]> = {};
    for (const database of ['embedded', 'qdrant', 'chromadb']) {
      for (const [id, vector, metadata] of POINTS) {
        const stored = await post(alice, `/api/v1/vectors/store?database=${database}`, {
          id,
          vector,
          metadata,
        });
        expect(stored.statusCode, stored.body).toBe(200);
        expect(stored.json()).toMatchObject({ database, vector_id: id, dimension: 3 });
      }
      const found = await post(alice, `/api/v1/vectors/search?database=${database}`, {
        query: [1, 0.2, 0],
        k: 10,
      });
      expect(found.statusCode, found.body).toBe(200);
      results[database] = found.json<Match[]>();
      const east = await post(alice, `/api/v1/vectors/search?database=${database}`, {
        query: [0, 1, 0],
        filter: { side: 'east' },
      });
      expect(
        east.json<Match[]>().map((m) => m.id),
        database,
      ).toEqual(['b', 'a']);
    }
    const embedded = results.embedded ?? [];
    expect(embedded.map((m) => m.id)).toEqual(['a', 'b', 'c', 'd']);
    for (const database of ['qdrant', 'chromadb']) {
      const other = results[database] ?? [];
      expect(
        other.map((m) => m.id),
        database,
      ).toEqual(embedded.map((m) => m.id));
      other.forEach((match, i) => {
        expect(match.score, `${database} ${match.id}`).toBeCloseTo(embedded[i]?.score ?? NaN, 5);
        expect(match.metadata).toEqual(embedded[i]?.metadata);
      });
    }

    for (const database of ['qdrant', 'chromadb']) {
      // replace d so that it points east: found first, once
      expect(
        (await post(alice, `/api/v1/vectors/store?database=${database}`, { id: 'd', vector: [1, 0.01, 0] }))
          .statusCode,
      ).toBe(200);
      const now = (
        await post(alice, `/api/v1/vectors/search?database=${database}`, { query: [1, 0, 0], k: 10 })
      ).json<Match[]>();
      expect(
        now.filter((m) => m.id === 'd'),
        database,
      ).toHaveLength(1);
      expect(now.find((m) => m.id === 'd')?.metadata).toEqual({});
      const deleted = await t.app.inject({
        method: 'DELETE',
        url: `/api/v1/vectors/d?database=${database}`,
        headers: bearer(alice),
      });
      expect(deleted.statusCode, deleted.body).toBe(200);
      expect(deleted.json()).toEqual({ status: 'success', database, deleted_id: 'd' });
      const again = await t.app.inject({
        method: 'DELETE',
        url: `/api/v1/vectors/d?database=${database}`,
        headers: bearer(alice),
      });
      expect(again.statusCode).toBe(404);
      const mismatch = await post(alice, `/api/v1/vectors/store?database=${database}`, {
        id: 'e',
        vector: [1, 2],
      });
      expect(mismatch.statusCode).toBe(422);
      expect(mismatch.json()).toMatchObject({ code: 'dimension_mismatch' });
    }
  });

  it('keeps users apart on each backend', async () => {
    for (const database of ['qdrant', 'chromadb']) {
      expect(
        (
          await post(alice, `/api/v1/vectors/store?database=${database}`, {
            id: 'mine',
            vector: [0.2, 0.3, 0.4],
          })
        ).statusCode,
      ).toBe(200);
      const his = await post(bob, `/api/v1/vectors/search?database=${database}`, {
        query: [0.2, 0.3, 0.4],
        k: 100,
      });
      expect(his.statusCode).toBe(200);
      expect(his.json(), database).toEqual([]);
      const steal = await t.app.inject({
        method: 'DELETE',
        url: `/api/v1/vectors/mine?database=${database}`,
        headers: bearer(bob),
      });
      expect(steal.statusCode).toBe(404);
    }
  });

  it('answers 503 "<name> not available" when the backend fails, hides its text, and works when it is back', async () => {
    for (const [database, standIn, secret] of [
      ['qdrant', qdrant, QDRANT_FAILURE_TEXT],
      ['chromadb', chroma, CHROMA_FAILURE_TEXT],
    ] as const) {
      for (const fail of [() => standIn.failWith(500), () => standIn.hang()]) {
        fail();
        for (const response of [
          await post(alice, `/api/v1/vectors/store?database=${database}`, { id: 'x', vector: [1, 1, 1] }),
          await post(alice, `/api/v1/vectors/search?database=${database}`, { query: [1, 1, 1] }),
          await t.app.inject({
            method: 'DELETE',
            url: `/api/v1/vectors/x?database=${database}`,
            headers: bearer(alice),
          }),
        ]) {
          expect(response.statusCode, response.body).toBe(503);
          expect(response.json()).toMatchObject({
            code: 'vector_backend_unavailable',
            detail: `${database} not available`,
          });
          expect(response.body).not.toContain(secret);
        }
        standIn.failWith(null);
      }
      const back = await post(alice, `/api/v1/vectors/search?database=${database}`, {
        query: [1, 0, 0],
        k: 1,
      });
      expect(back.statusCode, back.body).toBe(200);
    }
    // the embedded index never depended on them
    expect((await post(alice, '/api/v1/vectors/search', { query: [1, 0, 0] })).statusCode).toBe(200);
  });
});
