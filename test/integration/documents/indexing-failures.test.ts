// Documents that cannot be indexed fail as the file's own state, on both dialects, while the server goes on: a DOCX
// zip bomb (a small upload whose XML unpacks past the limit) is refused before it is unpacked, a PDF is read in a
// thread of its own, and a model that answers with vectors no index can compare (all zeros) fails the file instead
// of storing chunks that would rank first in every search.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { makeDocx, makePdf } from '../../helpers/documents.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { wordEmbedding } from '../../helpers/llm-stand-in-wire.js';
import { DOCUMENT_ENV, upload, waitForIndex } from './documents.helpers.js';

/** The stand-in's embeddings: all zeros for a text that asks for them, words hashed otherwise. */
const embed = (text: string) =>
  text.includes('ZEROVECTOR') ? wordEmbedding('').map(() => 0) : wordEmbedding(text);

describeEachDialect('documents that cannot be indexed', (dialect) => {
  let llm: LlmStandIn;
  let t: TestApp;
  let base: string;
  let token: string;

  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest', 'all-minilm:latest'], embed });
    t = await buildTestApp({
      dialect,
      env: { OLLAMA_URL: llm.url, LLM_RETRY_BASE_MS: '1', ...DOCUMENT_ENV },
    });
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    token = (await registerAndLogin(t.app)).tokens.access_token;
  });
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  it('fails a DOCX zip bomb with its reason, and indexes the next file', async () => {
    const bomb = await makeDocx(Array<string>(700_000).fill('x'));
    const uploaded = await upload(base, token, 'bomb.docx', bomb);
    const state = await waitForIndex(t.app, token, uploaded.file_id);
    expect(state).toMatchObject({ index_status: 'failed', index_chunks: null });
    expect(state.index_error).toMatch(/unpacks to more than 32 MiB of XML/);

    const pdf = await upload(
      base,
      token,
      'fine.pdf',
      makePdf([['The server still reads documents after a bomb.']]),
    );
    expect(await waitForIndex(t.app, token, pdf.file_id)).toMatchObject({
      index_status: 'ready',
      index_error: null,
    });
  });

  it('fails a file whose embeddings are all zeros, and chats cannot use it', async () => {
    const uploaded = await upload(
      base,
      token,
      'zeros.txt',
      'A text whose ZEROVECTOR embedding has no direction.',
    );
    const state = await waitForIndex(t.app, token, uploaded.file_id);
    expect(state.index_status).toBe('failed');
    expect(state.index_error).toMatch(/The embedding model returned a vector that is all zeros/);
    const search = await t.app.inject({
      method: 'POST',
      url: '/api/v1/chat/',
      headers: { authorization: `Bearer ${token}` },
      payload: { message: 'ZEROVECTOR', files: [uploaded.file_id] },
    });
    expect(search.statusCode).toBe(409);
  });
});
