// Chat over your documents, on both dialects: text, markdown, PDF and DOCX files uploaded, indexed in the background
// (status and progress on the file), and asked about over JSON, SSE and a WebSocket: the stand-in model receives the
// passage that answers, and the answer carries it as a source, kept in the history. Another user's file is a 404, a
// file not ready a 409, and deleting a file deletes its chunks.
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { makeCorruptPdf, makeDocx, makePdf } from '../../helpers/documents.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { wordEmbedding } from '../../helpers/llm-stand-in-wire.js';
import { closeAllSockets, connectChat } from '../../helpers/ws-client.js';
import { DOCUMENT_ENV, upload, waitForIndex, type Uploaded } from './documents.helpers.js';

interface Source {
  file_id: string;
  name: string;
  chunk: number;
  score: number;
  excerpt: string;
}
interface Upstream {
  messages: { role: string; content: string }[];
}

const FILLER = [
  'Quarterly reports describe revenue, margins and the outlook for every region in plain numbers.',
  'The cafeteria serves lunch from noon until two, with a vegetarian option on most days of the week.',
  'Parking permits are renewed each January; bring the old permit and a photo identity card.',
  'The library closes early on public holidays and opens late on the first Monday of each month.',
];

describeEachDialect('chat over your files', (dialect) => {
  let llm: LlmStandIn;
  let t: TestApp;
  let base: string;
  let alice: string;
  let bob: string;
  const files: Record<'text' | 'markdown' | 'pdf' | 'docx', Uploaded> = {} as never;
  const lastChat = () => llm.requests.filter((r) => r.path === '/api/chat').at(-1)?.body as Upstream;
  const chat = (token: string, payload: object) =>
    t.app.inject({ method: 'POST', url: '/api/v1/chat/', headers: bearer(token), payload: { ...payload } });

  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest', 'all-minilm:latest'], embed: wordEmbedding });
    t = await buildTestApp({
      dialect,
      env: { OLLAMA_URL: llm.url, LLM_RETRY_BASE_MS: '1', ...DOCUMENT_ENV },
    });
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    alice = (await registerAndLogin(t.app)).tokens.access_token;
    bob = (await registerAndLogin(t.app)).tokens.access_token;
    files.text = await upload(
      base,
      alice,
      'garden notes.txt',
      [FILLER[0], 'Tomatoes need watering every morning in July; never water the leaves.', FILLER[1]].join(
        '\n\n',
      ),
    );
    files.markdown = await upload(
      base,
      alice,
      'recipes.md',
      `# Soups\n\n${FILLER[2]}\n\nThe secret ingredient of the lighthouse soup is smoked paprika <and> a pinch of saffron.\n\n${FILLER[3]}`,
    );
    files.pdf = await upload(
      base,
      alice,
      'Zephyr manual.pdf',
      makePdf([
        [FILLER[0] ?? '', FILLER[1] ?? ''],
        ['To reset the Zephyr blender, hold the pulse button for nine seconds.', FILLER[2] ?? ''],
      ]),
    );
    files.docx = await upload(
      base,
      alice,
      'Styremøte – referat.docx',
      await makeDocx([
        FILLER[3] ?? '',
        'The board approved the Aurora budget of 42 million kroner – enstemmig.',
        FILLER[0] ?? '',
      ]),
    );
  });
  afterEach(() => {
    closeAllSockets();
    llm.assertNoUnexpected();
  });
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  it('indexes each format in the background, with its status and progress on the file', async () => {
    const detected = Object.fromEntries(Object.entries(files).map(([kind, file]) => [kind, file.mime_type]));
    expect(detected).toEqual({
      text: 'text/plain',
      markdown: 'text/markdown',
      pdf: 'application/pdf',
      docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    });
    for (const file of Object.values(files)) {
      expect(['pending', 'indexing', 'ready']).toContain(file.index_status);
      const state = await waitForIndex(t.app, alice, file.file_id);
      expect(state, file.filename).toMatchObject({ index_status: 'ready', index_error: null });
      expect(state.index_chunks).toBeGreaterThan(1);
      expect(state.index_progress).toBe(state.index_chunks);
    }
    const list = await t.app.inject({ url: '/api/v1/files/list', headers: bearer(alice) });
    const listed = list.json<{ files: { file_id: string; index_status: string }[] }>().files;
    expect(listed.filter((f) => f.index_status === 'ready')).toHaveLength(4);
  });

  it('puts the passage that answers into the model’s context, and returns it as the source, kept in the history', async () => {
    await waitForIndex(t.app, alice, files.pdf.file_id);
    llm.reply({ tokens: ['Hold the pulse button ', 'for nine seconds [1].'] });
    const answered = await chat(alice, {
      message: 'How do I reset the Zephyr blender?',
      files: [files.pdf.file_id],
    });
    expect(answered.statusCode, answered.body).toBe(200);
    const system = lastChat()
      .messages.filter((m) => m.role === 'system')
      .map((m) => m.content)
      .join('\n');
    expect(system).toContain('hold the pulse button for nine seconds');
    expect(system).toContain('[1] Zephyr manual.pdf');
    expect(lastChat().messages.at(-1)).toEqual({
      role: 'user',
      content: 'How do I reset the Zephyr blender?',
    });
    const body = answered.json<{ sources: Source[]; session_id: string; message_id: number }>();
    expect(body.sources.length).toBeGreaterThanOrEqual(1);
    expect(body.sources[0]).toMatchObject({ file_id: files.pdf.file_id, name: 'Zephyr manual.pdf' });
    expect(body.sources[0]?.excerpt).toContain('hold the pulse button for nine seconds');
    expect(body.sources.every((s) => s.file_id === files.pdf.file_id)).toBe(true);
    const scores = body.sources.map((s) => s.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));

    const history = await t.app.inject({
      url: `/api/v1/chat/sessions/${body.session_id}`,
      headers: bearer(alice),
    });
    const messages = history.json<{ messages: { id: number; role: string; sources: Source[] | null }[] }>()
      .messages;
    expect(messages.find((m) => m.id === body.message_id)?.sources).toEqual(body.sources);
    expect(messages.find((m) => m.role === 'user')?.sources).toBeNull();
  });

  it('finds the right file among all of them with use_files, in markdown and DOCX too', async () => {
    for (const file of Object.values(files)) await waitForIndex(t.app, alice, file.file_id);
    llm.reply({ tokens: ['Smoked paprika.'] }, { tokens: ['42 million.'] });
    const soup = await chat(alice, {
      message: 'What is the secret ingredient of the lighthouse soup?',
      use_files: true,
    });
    expect(soup.statusCode, soup.body).toBe(200);
    expect(soup.json<{ sources: Source[] }>().sources[0]).toMatchObject({
      file_id: files.markdown.file_id,
      name: 'recipes.md',
    });
    expect(
      lastChat().messages.find((m) => m.role === 'system' && m.content.includes('smoked paprika <and>')),
    ).toBeDefined();
    const budget = await chat(alice, {
      message: 'Which budget did the board approve for Aurora?',
      use_files: true,
    });
    const [best] = budget.json<{ sources: Source[] }>().sources;
    expect(best).toMatchObject({ file_id: files.docx.file_id, name: 'Styremøte – referat.docx' });
    expect(best?.excerpt).toContain('42 million kroner – enstemmig');
  });

  it('carries the sources in the SSE end event and the WebSocket stream_end frame', async () => {
    await waitForIndex(t.app, alice, files.text.file_id);
    llm.reply({ tokens: ['Every morning.'] }, { tokens: ['In the morning.'] });
    const sse = await fetch(`${base}/api/v1/chat/`, {
      method: 'POST',
      headers: { ...bearer(alice), 'content-type': 'application/json' },
      body: JSON.stringify({
        message: 'When do tomatoes need watering?',
        files: [files.text.file_id],
        stream: true,
      }),
    });
    const events = await sse.text();
    const end = /event: end\ndata: (.*)\n/.exec(events)?.[1];
    expect(end, events).toBeDefined();
    expect((JSON.parse(end ?? '{}') as { sources: Source[] }).sources[0]).toMatchObject({
      file_id: files.text.file_id,
    });

    const socket = await connectChat(`${base.replace(/^http/, 'ws')}/api/v1/chat/ws?token=${alice}`);
    await socket.next('connection');
    socket.send({ type: 'chat', message: 'When do tomatoes need watering?', files: [files.text.file_id] });
    const frame = await socket.next('stream_end');
    expect((frame as unknown as { sources: Source[] }).sources[0]).toMatchObject({
      file_id: files.text.file_id,
      name: 'garden notes.txt',
    });
  });

  it('refuses another user’s file (404), a file not ready (409), files without an account (401) and bad lists (422)', async () => {
    const before = llm.requests.length;
    const foreign = await chat(bob, { message: 'What does it say?', files: [files.pdf.file_id] });
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json()).toMatchObject({ code: 'file_not_found' });
    const none = await chat(bob, { message: 'Anything?', use_files: true });
    expect(none.statusCode).toBe(409);
    expect(none.json()).toMatchObject({ code: 'no_ready_files' });
    const anonymous = await t.app.inject({
      method: 'POST',
      url: '/api/v1/chat/',
      payload: { message: 'hi', files: [files.pdf.file_id] },
    });
    expect(anonymous.statusCode).toBe(401);
    for (const bad of [
      { files: 'x' },
      { files: [1] },
      { files: Array.from({ length: 21 }, (_, i) => `f${i}`) },
      { use_files: 'yes' },
    ]) {
      expect((await chat(alice, { message: 'hi', ...bad })).statusCode, JSON.stringify(bad)).toBe(422);
    }
    // nothing reached the model, and no session was made for bob
    expect(llm.requests.length).toBe(before);
    const sessions = await t.app.inject({ url: '/api/v1/chat/sessions', headers: bearer(bob) });
    expect(sessions.json<{ items: unknown[] }>().items).toEqual([]);

    // a file whose indexing cannot finish: the embedding model hangs
    llm.script('embed', { hang: true });
    const pending = await upload(
      base,
      bob,
      'slow.txt',
      'Slow words about a slow afternoon in the slow lane.',
    );
    const state = await waitForIndex(t.app, bob, pending.file_id, ['indexing']);
    expect(state.index_status).toBe('indexing');
    // the hanging embedding request has reached the model: the indexing waits in it
    const deadline = Date.now() + 10_000;
    while (
      !llm.requests.some((r) => r.path === '/api/embed' && JSON.stringify(r.body).includes('Slow words'))
    ) {
      if (Date.now() > deadline) throw new Error('the slow file was never sent to the model');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const notReady = await chat(bob, { message: 'slow?', files: [pending.file_id] });
    expect(notReady.statusCode).toBe(409);
    expect(notReady.json()).toMatchObject({ code: 'file_not_ready' });
    // deleting it stops the indexing and leaves no chunk behind
    expect(
      (
        await t.app.inject({
          method: 'DELETE',
          url: `/api/v1/files/delete/${pending.file_id}`,
          headers: bearer(bob),
        })
      ).statusCode,
    ).toBe(200);
  });

  it('records why an indexing failed, and indexes again when asked', async () => {
    const { tokens } = await registerAndLogin(t.app);
    const broken = await upload(base, tokens.access_token, 'broken.pdf', makeCorruptPdf());
    const failed = await waitForIndex(t.app, tokens.access_token, broken.file_id);
    expect(failed.index_status).toBe('failed');
    expect(failed.index_error).toMatch(/PDF/);
    const image = await upload(
      base,
      tokens.access_token,
      'dot.png',
      Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex'),
    );
    expect(image.index_status).toBeNull();
    const refused = await t.app.inject({
      method: 'POST',
      url: `/api/v1/files/index/${image.file_id}`,
      headers: bearer(tokens.access_token),
    });
    expect(refused.statusCode).toBe(415);
    const again = await t.app.inject({
      method: 'POST',
      url: `/api/v1/files/index/${broken.file_id}`,
      headers: bearer(tokens.access_token),
    });
    expect(again.statusCode, again.body).toBe(202);
    expect((await waitForIndex(t.app, tokens.access_token, broken.file_id)).index_status).toBe('failed');
    const foreign = await t.app.inject({
      method: 'POST',
      url: `/api/v1/files/index/${broken.file_id}`,
      headers: bearer(bob),
    });
    expect(foreign.statusCode).toBe(404);
    expect(
      (await t.app.inject({ url: `/api/v1/files/index/${broken.file_id}`, headers: bearer(bob) })).statusCode,
    ).toBe(404);
  });

  it('deletes a file’s chunks with the file', async () => {
    const { tokens } = await registerAndLogin(t.app);
    const token = tokens.access_token;
    const file = await upload(base, token, 'kept.txt', [FILLER[0], FILLER[1], FILLER[2]].join('\n\n'));
    await waitForIndex(t.app, token, file.file_id);
    const userId = (await t.app.inject({ url: '/api/v1/auth/me', headers: bearer(token) })).json<{
      id: number;
    }>().id;
    const chunksOf = () =>
      t.app.vectors.backends.embedded.search(`user_${userId}_documents`, wordEmbedding('lunch'), 100, {
        file_id: file.file_id,
      });
    expect((await chunksOf()).length).toBeGreaterThan(1);
    expect(
      (
        await t.app.inject({
          method: 'DELETE',
          url: `/api/v1/files/delete/${file.file_id}`,
          headers: bearer(token),
        })
      ).statusCode,
    ).toBe(200);
    expect(await chunksOf()).toEqual([]);
    expect(
      (await t.app.inject({ url: `/api/v1/files/index/${file.file_id}`, headers: bearer(token) })).statusCode,
    ).toBe(404);
  });
});
