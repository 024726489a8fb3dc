// Prometheus metrics at GET /metrics: request counts and durations labelled by route pattern (never raw paths), the
// in-progress gauge (back to 0 after finished and aborted requests), app_info, Node defaults; one registry per app.
import http from 'node:http';
import { Type } from 'typebox';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/dialects.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text format → samples (comments skipped). */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, name = '', value = ''] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[name] = value;
    }
    samples.push({ name: match[1] ?? '', labels, value: Number(match[3]) });
  }
  return samples;
}

function select(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter(
    (sample) =>
      sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
}

/** The one sample's value, or 0 when the series does not exist (yet). */
function valueOf(samples: Sample[], name: string, labels: Record<string, string>): number {
  const found = select(samples, name, labels);
  expect(found.length, `${name} ${JSON.stringify(labels)}`).toBeLessThanOrEqual(1);
  return found[0]?.value ?? 0;
}

async function scrape(app: App): Promise<{ text: string; samples: Sample[] }> {
  const res = await app.inject({ url: '/metrics' });
  expect(res.statusCode).toBe(200);
  return { text: res.body, samples: parseMetrics(res.body) };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Scrapes until the in-progress gauge for `method` reads `expected`, a bounded number of times. */
async function waitForInProgress(app: App, method: string, expected: number): Promise<void> {
  let last = Number.NaN;
  for (let attempt = 0; attempt < 200; attempt++) {
    last = valueOf((await scrape(app)).samples, 'http_requests_in_progress', { method });
    if (last === expected) return;
    await sleep(10);
  }
  throw new Error(`http_requests_in_progress{method="${method}"} stayed at ${last}, expected ${expected}`);
}

/** Requests to /test/slow wait in their handler until the test releases them (or a safety timer fires). */
class Slow {
  private waiting: (() => void)[] = [];

  wait(): Promise<void> {
    return new Promise<void>((resolve) => {
      const safety = setTimeout(resolve, 10_000);
      this.waiting.push(() => {
        clearTimeout(safety);
        resolve();
      });
    });
  }

  /** Releases the handlers waiting now; resolves false when none was waiting yet. */
  release(): boolean {
    const released = this.waiting.splice(0);
    for (const resume of released) resume();
    return released.length > 0;
  }

  /** Waits (a bounded number of times) until a handler waits, then releases it. */
  async releaseOne(): Promise<void> {
    for (let attempt = 0; attempt < 200; attempt++) {
      if (this.release()) return;
      await sleep(10);
    }
    throw new Error('no handler ever waited on /test/slow');
  }
}

function addRoutes(app: App, slow: Slow): void {
  app.get(
    '/api/v1/items/:id',
    { schema: { params: Type.Object({ id: Type.Integer() }) } },
    async (request) => request.params,
  );
  app.get('/api/v1/other/:name', async () => ({ ok: true }));
  app.get('/test/slow', async () => {
    await slow.wait();
    return { done: true };
  });
  app.post('/test/slow', async () => {
    await slow.wait();
    return { done: true };
  });
}

describeEachDialect('metrics', (dialect) => {
  let t: TestApp;
  let baseUrl: string;
  const slow = new Slow();
  beforeAll(async () => {
    t = await buildTestApp({
      dialect,
      env: { APP_NAME: 'Metrics Test' },
      extend: (app) => addRoutes(app, slow),
    });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const address = t.app.server.address();
    if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
    baseUrl = `http://127.0.0.1:${address.port}`;
  });
  afterAll(async () => {
    slow.release();
    await t.close();
  });

  it('GET /metrics is Prometheus text with the HTTP metrics, app_info and the Node defaults', async () => {
    await t.app.inject({ url: '/health' });
    const res = await t.app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.body).toContain('# TYPE http_requests_total counter');
    expect(res.body).toContain('# TYPE http_request_duration_seconds histogram');
    expect(res.body).toContain('# TYPE http_requests_in_progress gauge');
    expect(res.body).toContain('# TYPE app_info gauge');

    const samples = parseMetrics(res.body);
    expect(select(samples, 'app_info')).toEqual([
      {
        name: 'app_info',
        labels: { name: 'Metrics Test', version: '0.0.0-test', environment: 'test' },
        value: 1,
      },
    ]);
    for (const name of [
      'process_cpu_user_seconds_total',
      'nodejs_eventloop_lag_seconds',
      'process_resident_memory_bytes',
    ]) {
      expect(select(samples, name), name).toHaveLength(1);
    }
    const health = select(samples, 'http_requests_total', {
      method: 'GET',
      route: '/health',
      status_code: '200',
    });
    expect(health).toHaveLength(1);
    expect(Object.keys(health[0]?.labels ?? {}).sort()).toEqual(['method', 'route', 'status_code']);
  });

  it('requests to /api/v1/items/123 and /456 make one series labelled with the route pattern', async () => {
    const labels = { method: 'GET', route: '/api/v1/items/:id' };
    const before = (await scrape(t.app)).samples;
    expect((await t.app.inject({ url: '/api/v1/items/123' })).statusCode).toBe(200);
    expect((await t.app.inject({ url: '/api/v1/items/456' })).statusCode).toBe(200);
    const { text, samples } = await scrape(t.app);

    const countOf = (s: Sample[]) => valueOf(s, 'http_requests_total', { ...labels, status_code: '200' });
    expect(countOf(samples) - countOf(before)).toBe(2);
    const observed = (s: Sample[]) => valueOf(s, 'http_request_duration_seconds_count', labels);
    expect(observed(samples) - observed(before)).toBe(2);
    expect(text).not.toMatch(/route="[^"]*(?:123|456)/);
  });

  it('the duration histogram has ordered cumulative buckets ending in +Inf = count, and a positive sum', async () => {
    await t.app.inject({ url: '/api/v1/other/a' });
    const { samples } = await scrape(t.app);
    const labels = { method: 'GET', route: '/api/v1/other/:name' };
    const buckets = select(samples, 'http_request_duration_seconds_bucket', labels);
    expect(buckets.length).toBeGreaterThan(5);
    const bounds = buckets.map((bucket) => Number(bucket.labels.le === '+Inf' ? Infinity : bucket.labels.le));
    expect(bounds).toEqual([...bounds].sort((a, b) => a - b));
    const counts = buckets.map((bucket) => bucket.value);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(buckets.at(-1)?.labels.le).toBe('+Inf');
    expect(buckets.at(-1)?.value).toBe(valueOf(samples, 'http_request_duration_seconds_count', labels));
    expect(valueOf(samples, 'http_request_duration_seconds_sum', labels)).toBeGreaterThan(0);
  });

  it('the status code label tells answers apart under one route pattern', async () => {
    const labels = { method: 'GET', route: '/api/v1/items/:id', status_code: '422' };
    const before = valueOf((await scrape(t.app)).samples, 'http_requests_total', labels);
    expect((await t.app.inject({ url: '/api/v1/items/not-a-number' })).statusCode).toBe(422);
    expect(valueOf((await scrape(t.app)).samples, 'http_requests_total', labels) - before).toBe(1);
  });

  it('many random unmatched URLs share one "__unmatched__" label and never appear in the output', async () => {
    const labels = { method: 'GET', route: '__unmatched__', status_code: '404' };
    const before = valueOf((await scrape(t.app)).samples, 'http_requests_total', labels);
    const tokens = Array.from({ length: 40 }, (_, i) => `rnd${i}x${Math.random().toString(36).slice(2, 10)}`);
    for (const token of tokens) {
      expect((await t.app.inject({ url: `/api/v1/${token}/${token}` })).statusCode).toBe(404);
    }
    const { text, samples } = await scrape(t.app);
    expect(valueOf(samples, 'http_requests_total', labels) - before).toBe(40);
    for (const token of tokens) expect(text).not.toContain(token);
    const routes = new Set(select(samples, 'http_requests_total').map((sample) => sample.labels.route));
    for (const route of routes) expect(route === '__unmatched__' || route?.startsWith('/')).toBe(true);
  });

  it('405s and trailing-slash misses are unmatched too, not labelled with the raw URL', async () => {
    const before = (await scrape(t.app)).samples;
    expect((await t.app.inject({ method: 'DELETE', url: '/api/v1/items/77' })).statusCode).toBe(405);
    const after = (await scrape(t.app)).samples;
    const labels = { method: 'DELETE', route: '__unmatched__', status_code: '405' };
    expect(
      valueOf(after, 'http_requests_total', labels) - valueOf(before, 'http_requests_total', labels),
    ).toBe(1);
  });

  it('the in-progress gauge reads 0 once requests have finished (the scrape does not count itself)', async () => {
    await Promise.all(Array.from({ length: 10 }, () => t.app.inject({ url: '/health' })));
    const { samples } = await scrape(t.app);
    expect(valueOf(samples, 'http_requests_in_progress', { method: 'GET' })).toBe(0);
  });

  it('a request in flight counts as in progress, and a client abort brings the gauge back to 0', async () => {
    for (const method of ['GET', 'POST']) {
      const labels = (status_code: string) => ({ method, route: '/test/slow', status_code });
      const before = (await scrape(t.app)).samples;
      const req = http.request(`${baseUrl}/test/slow`, { method });
      req.on('error', () => undefined); // the abort below
      req.end();
      await waitForInProgress(t.app, method, 1);

      req.destroy();
      await waitForInProgress(t.app, method, 0);
      await slow.releaseOne();
      // The aborted request is counted once, as 499, and not again when its handler finishes afterwards.
      await t.app.inject({ url: '/health' });
      const after = (await scrape(t.app)).samples;
      for (const [status, added] of [
        ['499', 1],
        ['200', 0],
      ] as const) {
        expect(
          valueOf(after, 'http_requests_total', labels(status)) -
            valueOf(before, 'http_requests_total', labels(status)),
        ).toBe(added);
      }
    }
  });

  it('a slow request that completes also brings the gauge back to 0', async () => {
    const answer = fetch(`${baseUrl}/test/slow`);
    await waitForInProgress(t.app, 'GET', 1);
    await slow.releaseOne();
    expect((await answer).status).toBe(200);
    await waitForInProgress(t.app, 'GET', 0);
  });

  it('two apps in one process keep independent registries: counts never mix', async () => {
    const other = await buildTestApp({ dialect });
    try {
      expect(other.app.metrics.registry).not.toBe(t.app.metrics.registry);
      const labels = { method: 'GET', route: '/health', status_code: '200' };
      const mineBefore = valueOf((await scrape(t.app)).samples, 'http_requests_total', labels);

      for (let i = 0; i < 3; i++) await t.app.inject({ url: '/health' });
      expect(valueOf((await scrape(other.app)).samples, 'http_requests_total', labels)).toBe(0);

      await other.app.inject({ url: '/health' });
      expect(valueOf((await scrape(other.app)).samples, 'http_requests_total', labels)).toBe(1);
      expect(valueOf((await scrape(t.app)).samples, 'http_requests_total', labels) - mineBefore).toBe(3);
      // The test routes exist only in the first app.
      expect((await scrape(other.app)).text).not.toContain('/api/v1/items/:id');
    } finally {
      await other.close();
    }
  });
});
