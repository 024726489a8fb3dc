// A session deleted while someone chats in it, or deleted by several requests at once: every answer is a 200 or a
// 404, never a 500 (a message inserted into a deleted session broke its foreign key), and exactly one delete answers
// for the messages (each of them used to count the messages before deleting).
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { chatOk, parseSse, postChat, waitUntil } from './chat.helpers.js';

describeEachDialect('chat sessions deleted while in use', (dialect) => {
  let t: TestApp;
  let llm: LlmStandIn;
  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest'] });
    t = await buildTestApp({
      dialect,
      env: { OLLAMA_URL: llm.url, LLM_MAX_CONCURRENT: '50', LLM_MAX_CONCURRENT_PER_USER: '50' },
    });
  });
  afterEach(() => llm.assertNoUnexpected());
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  const token = async () => (await registerAndLogin(t.app)).tokens.access_token;
  const remove = (owner: string, id: string) =>
    t.app.inject({ method: 'DELETE', url: `/api/v1/chat/sessions/${id}`, headers: bearer(owner) });
  const generationsSeen = () => llm.requests.filter((r) => r.path === '/api/chat').length;

  it('answers 404 session_not_found to a chat whose session is deleted while the model answers', async () => {
    const owner = await token();
    llm.reply({ tokens: ['first'] });
    await chatOk(t.app, { message: 'hello', session_id: 'doomed' }, owner);

    for (const stream of [false, true]) {
      llm.reply({ tokens: ['slow', ' answer', ' here'], firstTokenDelayMs: 50, tokenDelayMs: 150 });
      const before = generationsSeen();
      const chat = postChat(t.app, { message: 'are you there?', session_id: 'doomed', stream }, owner);
      await waitUntil(() => generationsSeen() > before, 'the generation has started');
      expect((await remove(owner, 'doomed')).statusCode).toBe(200);
      const answer = await chat;
      if (stream) {
        // The stream had opened with the first token: its last event says what happened.
        expect(answer.statusCode).toBe(200);
        const last = parseSse(answer.body).at(-1);
        expect(last?.event).toBe('error');
        expect(last?.data).toMatchObject({ code: 'session_not_found', status: 404 });
      } else {
        expect(answer.statusCode, answer.body).toBe(404);
        expect(answer.json()).toMatchObject({ code: 'session_not_found' });
      }
      // Recreated by the next round's first message, as any message to an id that names no session.
      llm.reply({ tokens: ['again'] });
      await chatOk(t.app, { message: 'hello again', session_id: 'doomed' }, owner);
    }
  });

  it('lets exactly one of 25 parallel deletes answer for the messages; the others are 404', async () => {
    const owner = await token();
    llm.reply({ tokens: ['one'] }, { tokens: ['two'] });
    await chatOk(t.app, { message: 'first', session_id: 'many-deletes' }, owner);
    await chatOk(t.app, { message: 'second', session_id: 'many-deletes' }, owner);

    const answers = await Promise.all(Array.from({ length: 25 }, () => remove(owner, 'many-deletes')));
    const ok = answers.filter((a) => a.statusCode === 200);
    expect(ok).toHaveLength(1);
    expect(ok[0]?.json()).toMatchObject({ status: 'success', messages_deleted: 4 });
    expect(answers.filter((a) => a.statusCode === 404)).toHaveLength(24);
  });

  it('never answers 5xx when chats and deletes of one session run at once', async () => {
    const owner = await token();
    const statuses: number[] = [];
    for (let round = 0; round < 8; round++) {
      const id = `contested-${round}`;
      llm.reply({ tokens: ['seed'] });
      await chatOk(t.app, { message: 'seed', session_id: id }, owner);
      llm.reply({ tokens: ['a'] }, { tokens: ['b'] });
      const answers = await Promise.all([
        postChat(t.app, { message: 'one', session_id: id }, owner),
        postChat(t.app, { message: 'two', session_id: id, stream: true }, owner),
        remove(owner, id),
        remove(owner, id),
        remove(owner, id),
      ]);
      statuses.push(...answers.map((a) => a.statusCode));
      for (const a of answers) expect(a.body).not.toContain('"status":500');
    }
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
  });
});
