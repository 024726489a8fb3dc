// A restart in the middle of indexing a file, on both dialects: the indexing stops with the app (the file goes back
// to pending, never stuck in indexing), and the next start resumes it after the last stored batch — the model is
// not asked again for the chunks already stored — until the file is ready and can be chatted over.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildApp } from '../../../src/app.js';
import { chunkText } from '../../../src/modules/documents/chunking.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { embedBody, wordEmbedding } from '../../helpers/llm-stand-in-wire.js';
import { DOCUMENT_ENV, indexState, upload, waitForIndex } from './documents.helpers.js';

const TEXT = Array.from(
  { length: 12 },
  (_, i) =>
    `Paragraph ${i + 1} tells of harbour number ${i + 1}, its ${i % 2 ? 'red' : 'green'} lighthouse and its ferries.`,
).join('\n\n');

describeEachDialect('indexing across a restart', (dialect) => {
  let llm: LlmStandIn;
  let t: TestApp;
  let token: string;

  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest', 'all-minilm:latest'], embed: wordEmbedding });
    t = await buildTestApp({
      dialect,
      env: { OLLAMA_URL: llm.url, LLM_RETRY_BASE_MS: '1', ...DOCUMENT_ENV },
    });
    token = (await registerAndLogin(t.app)).tokens.access_token;
  });
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  it('goes back to pending when the app stops, and resumes after the stored batches at the next start', async () => {
    const chunks = chunkText(
      TEXT,
      Number(DOCUMENT_ENV.DOCUMENTS_CHUNK_CHARS),
      Number(DOCUMENT_ENV.DOCUMENTS_CHUNK_OVERLAP_CHARS),
    );
    expect(chunks.length).toBeGreaterThan(4);
    const first = chunks.slice(0, 2).map((chunk) => chunk.text);
    // The first batch is answered, the second never is: the app stops while it waits.
    llm.script(
      'embed',
      { body: JSON.parse(embedBody('all-minilm', first, wordEmbedding)) as unknown },
      { hang: true },
    );
    const base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const file = await upload(base, token, 'harbours.txt', TEXT);
    const deadline = Date.now() + 10_000;
    while ((await indexState(t.app, token, file.file_id)).index_progress < 2) {
      if (Date.now() > deadline) throw new Error('the first batch was never stored');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const asked = () =>
      llm.requests.filter((r) => r.path === '/api/embed').map((r) => (r.body as { input: string[] }).input);
    // The second batch's request has reached the model (and hangs there) when the app stops.
    while (asked().length < 2) {
      if (Date.now() > deadline) throw new Error('the second batch was never asked for');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(asked()).toHaveLength(2);

    await t.app.close();
    const reader = await buildApp(t.config, { migrate: false });
    t.app = reader;
    await reader.ready();
    const resumed = await waitForIndex(reader, token, file.file_id);
    expect(resumed).toMatchObject({ index_status: 'ready', index_error: null, index_chunks: chunks.length });
    expect(resumed.index_progress).toBe(chunks.length);
    // After the restart the model was asked only for the chunks after the stored batch, each once.
    const afterRestart = asked().slice(2).flat();
    expect(afterRestart).toEqual(chunks.slice(2).map((chunk) => chunk.text));

    llm.reply({ tokens: ['Red.'] });
    const answer = await reader.inject({
      method: 'POST',
      url: '/api/v1/chat/',
      headers: bearer(token),
      payload: { message: 'What colour is the lighthouse of harbour number 4?', files: [file.file_id] },
    });
    expect(answer.statusCode, answer.body).toBe(200);
    const sources = answer.json<{ sources: { chunk: number; excerpt: string }[] }>().sources;
    expect(sources.length).toBeGreaterThan(0);
    expect(sources.some((s) => s.excerpt.includes('harbour number 4'))).toBe(true);
    llm.assertNoUnexpected();
  });

  it('indexes a file again from the start when asked to while it is being indexed', async () => {
    const chunks = chunkText(
      TEXT,
      Number(DOCUMENT_ENV.DOCUMENTS_CHUNK_CHARS),
      Number(DOCUMENT_ENV.DOCUMENTS_CHUNK_OVERLAP_CHARS),
    );
    const first = chunks.slice(0, 2).map((chunk) => chunk.text);
    // The first run's second batch hangs until the run is stopped.
    llm.script(
      'embed',
      { body: JSON.parse(embedBody('all-minilm', first, wordEmbedding)) as unknown },
      { hang: true },
    );
    const before = llm.requests.filter((r) => r.path === '/api/embed').length;
    const asked = () =>
      llm.requests
        .filter((r) => r.path === '/api/embed')
        .slice(before)
        .map((r) => (r.body as { input: string[] }).input);
    const base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const file = await upload(base, token, 'harbours again.txt', TEXT);
    const deadline = Date.now() + 10_000;
    while (asked().length < 2) {
      if (Date.now() > deadline) throw new Error('the second batch was never asked for');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const again = await t.app.inject({
      method: 'POST',
      url: `/api/v1/files/index/${file.file_id}`,
      headers: bearer(token),
    });
    expect(again.statusCode, again.body).toBe(202);
    const done = await waitForIndex(t.app, token, file.file_id);
    expect(done).toMatchObject({ index_status: 'ready', index_error: null, index_chunks: chunks.length });
    expect(done.index_progress).toBe(chunks.length);
    // The second run asked for every chunk from the first one, each once.
    expect(asked().slice(2).flat()).toEqual(chunks.map((chunk) => chunk.text));
  });
});
