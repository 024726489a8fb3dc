// The embedded vector index (src/modules/vectors/embedded-index.ts: sqlite-vec in better-sqlite3, run in worker
// threads) on 100,000 random 384-dimension unit vectors: the insert rate and the file's size, then top-10 searches with
// and without a metadata filter that keeps about 10 % of the points or one that keeps 50 (one file's chunks), against
// the in-run baseline of an exact cosine top-10 in plain JavaScript over the same Float32Arrays. The index is exact,
// so its results are checked against that baseline (recall@10, and the scores), also for searches just after a write. Then what the index's threads are for:
// how long a search() call holds the event loop, how late a 1 ms timer fires while searches run, and the throughput
// of 2 concurrent searchers with 1 and with 2 threads; and the same for the writes, which run on the first thread.
//
// Runs in the bench process: no server, no network. Each query is measured once per row, the seven rows of the first
// table interleaved query by query, and the runs of the second table in alternating rounds, so that drift on a noisy
// machine hits them alike.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { EmbeddedVectorIndex } from '../src/modules/vectors/embedded-index.js';
import type { VectorPoint } from '../src/modules/vectors/vector-index.port.js';
import {
  bruteForceTopK,
  check,
  lateTimer,
  percentile,
  prng,
  row,
  rowNorms,
  timed,
  unitVectors,
  writes,
  type Hit,
  type Writes,
} from './vector-data.js';

const POINTS = 100_000;
const DIMENSION = 384;
const BATCH = 1_000;
const QUERIES = 200;
const WARMUP_QUERIES = 10;
const K = 10;
const BUCKETS = 10;
const FILTER_BUCKET = 3;
/** A second key, `file`: point i is in file i mod FILES, so one file's filter keeps 50 points (one document's chunks). */
const FILES = 2_000;
const FILTER_FILE = 7;
const SEED = 20261205;
const COLLECTION = 'bench';
/** Event loop and concurrency runs: rounds of each run, and searches per run per round. */
const ROUNDS = 2;
const RUN_QUERIES = 60;
const WRITES = 200;
const DELETE_WHERE_ROUNDS = 20;
const DELETE_WHERE_POINTS = 20;

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => n.toFixed(n < 10 ? 2 : 1);
const mib = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
const spread = (values: number[]) =>
  `${ms(percentile(values, 0.5))} / ${ms(percentile(values, 0.99))} / ${ms(Math.max(...values))}`;

interface Row {
  name: string;
  latencies: number[];
}

interface Run {
  name: string;
  searchers: number;
  index: EmbeddedVectorIndex;
  latencies: number[];
  /** How long each search() call took to return its promise: the time it held the event loop. */
  blocked: number[];
  /** How much later than due a 1 ms timer fired, tick by tick, while the run's searches went on (ms). */
  lateness: number[];
  elapsedMs: number;
}

function fileSize(file: string): number {
  return fs.existsSync(file) ? fs.statSync(file).size : 0;
}

/** `run.searchers` loops, each searching the next query as soon as its previous search answered. */
async function measureRun(run: Run, queries: number[][]): Promise<void> {
  let next = 0;
  const t0 = performance.now();
  const timer = lateTimer();
  await Promise.all(
    Array.from({ length: run.searchers }, async () => {
      for (let q = next++; q < queries.length; q = next++) {
        const start = performance.now();
        const pending = run.index.search(COLLECTION, queries[q] ?? [], K);
        run.blocked.push(performance.now() - start);
        await pending;
        run.latencies.push(performance.now() - start);
      }
    }),
  );
  run.lateness.push(...timer.stop());
  run.elapsedMs += performance.now() - t0;
}

export async function runVectorsSection(workDir: string): Promise<{ markdown: string; problems: string[] }> {
  const problems: string[] = [];
  const random = prng(SEED);
  console.error(`generating ${int(POINTS)} random ${DIMENSION}-dimension unit vectors…`);
  const data = unitVectors(random, POINTS, DIMENSION);
  const norms = rowNorms(data, DIMENSION);
  const buckets = Uint8Array.from({ length: POINTS }, () => Math.floor(random() * BUCKETS));
  const queries = unitVectors(random, QUERIES + WARMUP_QUERIES, DIMENSION);
  const kept = buckets.reduce((n, bucket) => n + (bucket === FILTER_BUCKET ? 1 : 0), 0);

  const file = path.join(workDir, 'vectors-bench.sqlite');
  fs.rmSync(file, { force: true });
  let index = new EmbeddedVectorIndex(file);
  console.error(`inserting them in batches of ${BATCH} into ${file}…`);
  const batches = writes(`upsert, a batch of ${int(BATCH)} points (the inserts)`);
  for (let start = 0; start < POINTS; start += BATCH) {
    const points: VectorPoint[] = [];
    for (let i = start; i < Math.min(POINTS, start + BATCH); i += 1)
      points.push({
        id: `p${i}`,
        vector: row(data, DIMENSION, i),
        metadata: { bucket: buckets[i], file: i % FILES },
      });
    await timed(batches, () => index.upsert(COLLECTION, points));
  }
  const insertMs = batches.answered.reduce((a, b) => a + b, 0);
  const walBeforeClose = fileSize(`${file}-wal`);
  // Closing checkpoints the write-ahead log into the file: its size is then the index's size on disk.
  await index.close();
  const size = fileSize(file);
  const walAfterClose = fileSize(`${file}-wal`);
  // The server's default (up to 2 threads; the second starts only when a search finds the first busy) for the first table,
  // one and two threads for the concurrency runs.
  index = new EmbeddedVectorIndex(file);
  const single = new EmbeddedVectorIndex(file, { searchThreads: 1 });
  const pooled = new EmbeddedVectorIndex(file, { searchThreads: 2 });

  const filter = { bucket: FILTER_BUCKET };
  const keep = (i: number) => buckets[i] === FILTER_BUCKET;
  const fileFilter = { file: FILTER_FILE };
  const keepFile = (i: number) => i % FILES === FILTER_FILE;
  const keptByFile = Array.from({ length: POINTS }, (_, i) => i).filter(keepFile).length;
  const rows: Record<
    'index' | 'indexAfterWrite' | 'indexFiltered' | 'indexFile' | 'js' | 'jsFiltered' | 'jsFile',
    Row
  > = {
    index: { name: 'index.search, no filter', latencies: [] },
    indexAfterWrite: { name: 'index.search, no filter, just after a write', latencies: [] },
    indexFiltered: { name: `index.search, filter {bucket: ${FILTER_BUCKET}}`, latencies: [] },
    js: { name: 'baseline: brute force in JS, no filter', latencies: [] },
    jsFiltered: { name: 'baseline: brute force in JS, same filter', latencies: [] },
    indexFile: { name: `index.search, filter {file: ${FILTER_FILE}}`, latencies: [] },
    jsFile: { name: 'baseline: brute force in JS, same filter', latencies: [] },
  };
  const expected: Hit[][] = [];
  const expectedFiltered: Hit[][] = [];
  const got: { id: string; score: number }[][] = [];
  const gotFiltered: { id: string; score: number }[][] = [];
  const expectedByFile: Hit[][] = [];
  const gotByFile: { id: string; score: number }[][] = [];
  const gotAfterWrite: { id: string; score: number }[][] = [];

  console.error(`${WARMUP_QUERIES} warm-up queries, then ${QUERIES} measured top-${K} queries per row…`);
  for (let q = 0; q < QUERIES + WARMUP_QUERIES; q += 1) {
    const measured = q >= WARMUP_QUERIES;
    const queryFloats = queries.subarray(q * DIMENSION, (q + 1) * DIMENSION);
    const query = Array.from(queryFloats);

    /** Times one call; a measured query keeps its time in `row` and its answer in `answers`. */
    const measure = async <T>(row: Row, answers: T[], call: () => T | Promise<T>) => {
      const t0 = performance.now();
      const answer = await call();
      if (measured) {
        row.latencies.push(performance.now() - t0);
        answers.push(answer);
      }
    };
    await measure(rows.index, got, () => index.search(COLLECTION, query, K));
    // A one-point write to another collection (so the results stay those of the data): any commit makes SQLite drop
    // a reading connection's page cache and memory map at its next read, so the next scan faults the file back in.
    await index.upsert(`${COLLECTION}-writes`, [{ id: 'w', vector: query, metadata: {} }]);
    await measure(rows.indexAfterWrite, gotAfterWrite, () => index.search(COLLECTION, query, K));
    await measure(rows.indexFiltered, gotFiltered, () => index.search(COLLECTION, query, K, filter));
    await measure(rows.js, expected, () => bruteForceTopK(data, norms, DIMENSION, queryFloats, K));
    await measure(rows.jsFiltered, expectedFiltered, () =>
      bruteForceTopK(data, norms, DIMENSION, queryFloats, K, keep),
    );
    await measure(rows.indexFile, gotByFile, () => index.search(COLLECTION, query, K, fileFilter));
    await measure(rows.jsFile, expectedByFile, () =>
      bruteForceTopK(data, norms, DIMENSION, queryFloats, K, keepFile),
    );
  }

  console.error(`event loop and concurrency: ${ROUNDS} rounds of 3 runs of ${RUN_QUERIES} searches…`);
  const runQueries = Array.from({ length: RUN_QUERIES }, (_, q) =>
    Array.from(queries.subarray(q * DIMENSION, (q + 1) * DIMENSION)),
  );
  const run = (name: string, searchers: number, on: EmbeddedVectorIndex): Run => ({
    name,
    searchers,
    index: on,
    latencies: [],
    blocked: [],
    lateness: [],
    elapsedMs: 0,
  });
  const runs = [
    run('1 searcher, 1 thread', 1, single),
    run('2 concurrent searchers, 1 thread', 2, single),
    run('2 concurrent searchers, 2 threads', 2, pooled),
  ];
  // The threads start, and map the file, before they are measured.
  await Promise.all(
    [single, pooled].flatMap((each) =>
      runQueries.slice(0, 4).map((query) => each.search(COLLECTION, query, K)),
    ),
  );
  for (let round = 0; round < ROUNDS; round += 1) for (const each of runs) await measureRun(each, runQueries);

  console.error(`${WRITES} one-point upserts and deletes, ${DELETE_WHERE_ROUNDS} deleteWhere calls…`);
  const upserts = writes('upsert, one point');
  const deletes = writes('delete, one point');
  const writeVectors = unitVectors(random, WRITES, DIMENSION);
  for (const [kind, call] of [
    [
      upserts,
      (i: number) =>
        index.upsert(COLLECTION, [{ id: `w${i}`, vector: row(writeVectors, DIMENSION, i), metadata: {} }]),
    ],
    [deletes, (i: number) => index.delete(COLLECTION, `w${i}`)],
  ] as [Writes, (i: number) => Promise<unknown>][]) {
    for (let i = 0; i < WRITES; i += 1) await timed(kind, () => call(i));
  }
  const deleteWheres = writes(
    `deleteWhere, ${DELETE_WHERE_POINTS} points (by a metadata key) of ${int(POINTS + DELETE_WHERE_POINTS)}`,
  );
  for (let round = 0; round < DELETE_WHERE_ROUNDS; round += 1) {
    const points = Array.from({ length: DELETE_WHERE_POINTS }, (_, i) => ({
      id: `r${round}-${i}`,
      vector: row(writeVectors, DIMENSION, i),
      metadata: { bucket: 0, round },
    }));
    await index.upsert(COLLECTION, points);
    const deleted = await timed(deleteWheres, () => index.deleteWhere(COLLECTION, { round }));
    if (deleted !== DELETE_WHERE_POINTS)
      problems.push(`deleteWhere({round: ${round}}) deleted ${deleted} points, not ${DELETE_WHERE_POINTS}`);
  }
  await Promise.all([single.close(), pooled.close()]);
  await index.close();

  const unfiltered = check(expected, got);
  const filteredCheck = check(expectedFiltered, gotFiltered);
  const afterWriteCheck = check(expected, gotAfterWrite);
  const fileCheck = check(expectedByFile, gotByFile);
  for (const [name, result] of [
    ['no filter', unfiltered],
    ['no filter, after a write', afterWriteCheck],
    ['filter', filteredCheck],
    ['file filter', fileCheck],
  ] as const) {
    if (result.recall < 1) {
      const gaps = result.misses.map((m) => m.gap.toExponential(1)).join(', ');
      problems.push(
        `recall@${K} (${name}) is ${result.recall.toFixed(4)}, not 1: the index missed ${result.misses.length} ` +
          `point(s) of the exact top ${K} (their score above the ${K}th: ${gaps})`,
      );
    }
  }

  const summary = (r: Row) => {
    const total = r.latencies.reduce((a, b) => a + b, 0);
    return {
      qps: (r.latencies.length * 1000) / total,
      p50: percentile(r.latencies, 0.5),
      p99: percentile(r.latencies, 0.99),
    };
  };
  const js = summary(rows.js);
  const jsFiltered = summary(rows.jsFiltered);
  const jsFile = summary(rows.jsFile);
  const line = (r: Row, baseline: { qps: number } | null) => {
    const s = summary(r);
    const ratio = baseline ? `${(s.qps / baseline.qps).toFixed(2)}×` : '1.00×';
    return `| ${r.name} | ${int(s.qps)} | ${ms(s.p50)} | ${ms(s.p99)} | ${ratio} |`;
  };
  const runLine = (r: Run) =>
    `| ${r.name} | ${int((r.latencies.length * 1000) / r.elapsedMs)} | ${ms(percentile(r.latencies, 0.5))} | ` +
    `${ms(percentile(r.latencies, 0.99))} | ${spread(r.blocked)} | ${spread(r.lateness)} |`;
  const insertSeconds = insertMs / 1000;

  const markdown = [
    '## Embedded vector index: top-10 search over 100,000 × 384 vectors vs brute force in JS',
    '',
    `Data: ${int(POINTS)} random unit vectors of ${DIMENSION} float32 (seeded PRNG, seed ${SEED}, Gaussian ` +
      `coordinates normalised), ids \`p0…\`, metadata \`{bucket: 0–${BUCKETS - 1}, file: i mod ${int(FILES)}}\`, the bucket drawn at ` +
      `random; the filter \`{bucket: ${FILTER_BUCKET}}\` keeps ${int(kept)} points ` +
      `(${((100 * kept) / POINTS).toFixed(1)} %), \`{file: ${FILTER_FILE}}\` keeps ${int(keptByFile)} (one ` +
      "document's chunks, as a chat over one file asks). " +
      `EmbeddedVectorIndex in a fresh file in the bench's temporary folder, reopened after the inserts; searches run ` +
      'in its first thread (which also writes; its own connection, mmap on). ' +
      `${QUERIES} random unit queries after ${WARMUP_QUERIES} warm-up ones, k = ${K}, the seven rows interleaved ` +
      'query by query, in the bench process. The baseline is an exact scan in plain JavaScript (float64 ' +
      'arithmetic over the same Float32Array, a sorted top-10) on the event loop.',
    '',
    `Insert: ${int(POINTS / insertSeconds)} points/s (${insertSeconds.toFixed(1)} s in upsert() for ` +
      `${POINTS / BATCH} batches of ${int(BATCH)}, one transaction each). File: ${mib(size)} after close ` +
      `(${int(size / POINTS)} bytes per point; the write-ahead log was ${mib(walBeforeClose)} before close, ` +
      `${mib(walAfterClose)} after).`,
    '',
    '| search (top 10) | queries/s | p50 ms | p99 ms | ratio vs JS brute force |',
    '|---|---:|---:|---:|---:|',
    line(rows.js, null),
    line(rows.index, js),
    line(rows.indexAfterWrite, js),
    line(rows.jsFiltered, null),
    line(rows.indexFiltered, jsFiltered),
    line(rows.jsFile, null),
    line(rows.indexFile, jsFile),
    '',
    `- Ratio: queries/s of the index over queries/s of the JS scan with the same filter (or none).`,
    '- Just after a write: each of those searches follows a one-point upsert into another collection. A commit by ' +
      "another connection makes SQLite drop a reading connection's page cache and memory map at its next read " +
      'transaction (WAL), and that scan reads the file back in; the writes run on the thread that searches, whose ' +
      'own commits keep both.',
    `- recall@${K} of the index against the JS scan: ${unfiltered.recall.toFixed(4)} without filter, ` +
      `${afterWriteCheck.recall.toFixed(4)} just after a write, ${filteredCheck.recall.toFixed(4)} with the bucket ` +
      `filter, ${fileCheck.recall.toFixed(4)} with the file filter (${QUERIES} queries each; exact search must ` +
      'give 1); largest score difference for the same point ' +
      `${Math.max(unfiltered.maxScoreDifference, afterWriteCheck.maxScoreDifference, filteredCheck.maxScoreDifference, fileCheck.maxScoreDifference).toExponential(1)} ` +
      '(the index computes in float32).',
    '',
    `Event loop and concurrency: unfiltered top-${K} searches, ${ROUNDS} rounds of ${RUN_QUERIES} per run, the runs ` +
      'alternating; each searcher sends its next query when its previous one is answered. "Held" is how long one ' +
      'search() call takes to return its promise (the event loop is held for that long); "late" is how much later ' +
      'than due a 1 ms setInterval fired, tick by tick, while the run went on.',
    '',
    '| searches (no filter) | queries/s | p50 ms | p99 ms | held per call ms p50 / p99 / max | 1 ms timer late ms p50 / p99 / max |',
    '|---|---:|---:|---:|---:|---:|',
    ...runs.map(runLine),
    '',
    `- The JS baseline runs on the event loop: 2 concurrent searchers of it would take turns, at its ${int(js.qps)} ` +
      'queries/s, holding the loop for a whole scan each.',
    '',
    'Writes, one after another (each answered before the next), run on the thread that searches first: "held" and ' +
      '"late" as above.',
    '',
    '| write | answered ms p50 / p99 / max | held per call ms p50 / p99 / max | 1 ms timer late ms p50 / p99 / max |',
    '|---|---:|---:|---:|',
    ...[batches, upserts, deletes, deleteWheres].map(
      (w) => `| ${w.name} | ${spread(w.answered)} | ${spread(w.held)} | ${spread(w.lateness)} |`,
    ),
    ...problems.map((p) => `- FAILED: ${p}`),
  ].join('\n');
  return { markdown, problems };
}
