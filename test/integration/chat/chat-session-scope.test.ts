// A session id is scoped to its owner: the same id for two users names two sessions, and nothing tells one user that
// another has a session of that id (it was a 404 on chat, and the id could be squatted). Concurrent first messages
// with one new id make one session per owner.
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { chatOk, postChat, sessionPage, type SessionList, type SessionSummary } from './chat.helpers.js';

/** The turns a generation request sent the model, without the system prompt. */
function conversation(body: unknown): { role: string; content: string }[] {
  const messages = (body as { messages: { role: string; content: string }[] }).messages;
  return messages.filter((m) => m.role !== 'system').map(({ role, content }) => ({ role, content }));
}

describeEachDialect('chat session ids are scoped to their owner', (dialect) => {
  const PARALLEL = 50;
  let t: TestApp;
  let llm: LlmStandIn;
  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest'] });
    t = await buildTestApp({
      dialect,
      env: {
        OLLAMA_URL: llm.url,
        LLM_RETRY_BASE_MS: '1',
        // Room for every parallel first message at once: the generation limits are not under test here.
        LLM_MAX_CONCURRENT: String(2 * PARALLEL),
        LLM_MAX_CONCURRENT_PER_USER: String(2 * PARALLEL),
      },
    });
  });
  afterEach(() => llm.assertNoUnexpected());
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  const token = async () => (await registerAndLogin(t.app)).tokens.access_token;
  const mine = async (owner: string) =>
    (
      await t.app.inject({ url: '/api/v1/chat/sessions?limit=500', headers: bearer(owner) })
    ).json<SessionList>();
  const contents = async (owner: string, id: string) =>
    (await sessionPage(t.app, owner, id, '?limit=500')).messages.map((m) => [m.role, m.content]);

  it("gives user B a session of B's own under A's id: B sees, renames and deletes only B's", async () => {
    const [a, b] = [await token(), await token()];
    llm.reply({ tokens: ['Noted, A'] }, { tokens: ['Still noted'] });
    await chatOk(t.app, { message: 'The secret plan of A', session_id: 'mysession' }, a);
    await chatOk(t.app, { message: 'More of the plan', session_id: 'mysession' }, a);
    const aBefore = await contents(a, 'mysession');

    // B's first message with that id: a new session of B's, and the model hears nothing of A's.
    llm.reply({ tokens: ['Hello B'] });
    const first = await postChat(t.app, { message: 'Hi, I am B', session_id: 'mysession' }, b);
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toMatchObject({ session_id: 'mysession', response: 'Hello B' });
    expect(conversation(llm.requests.at(-1)?.body)).toEqual([{ role: 'user', content: 'Hi, I am B' }]);

    // B's next one continues B's session (streamed too), still without A's.
    llm.reply({ tokens: ['Again B'] });
    const streamed = await postChat(t.app, { message: 'Me again', session_id: 'mysession', stream: true }, b);
    expect(streamed.statusCode, streamed.body).toBe(200);
    expect(streamed.body).toContain('event: end');
    expect(conversation(llm.requests.at(-1)?.body)).toEqual([
      { role: 'user', content: 'Hi, I am B' },
      { role: 'assistant', content: 'Hello B' },
      { role: 'user', content: 'Me again' },
    ]);
    expect(await contents(b, 'mysession')).toEqual([
      ['user', 'Hi, I am B'],
      ['assistant', 'Hello B'],
      ['user', 'Me again'],
      ['assistant', 'Again B'],
    ]);
    expect((await mine(b)).items).toEqual([
      expect.objectContaining({ session_id: 'mysession', title: 'Hi, I am B', message_count: 4 }),
    ]);
    expect(await contents(a, 'mysession')).toEqual(aBefore);

    const url = '/api/v1/chat/sessions/mysession';
    const renamed = await t.app.inject({
      method: 'PATCH',
      url,
      headers: bearer(b),
      payload: { title: 'B’s' },
    });
    expect(renamed.statusCode, renamed.body).toBe(200);
    expect(renamed.json<SessionSummary>()).toMatchObject({
      session_id: 'mysession',
      title: 'B’s',
      message_count: 4,
    });
    expect((await sessionPage(t.app, a, 'mysession')).title).toBe('The secret plan of A');

    const deleted = await t.app.inject({ method: 'DELETE', url, headers: bearer(b) });
    expect(deleted.statusCode, deleted.body).toBe(200);
    expect(deleted.json()).toMatchObject({ messages_deleted: 4 });
    const gone = await t.app.inject({ url, headers: bearer(b) });
    expect(gone.statusCode, gone.body).toBe(404);
    expect(gone.json()).toMatchObject({ detail: 'Session mysession not found', code: 'session_not_found' });
    expect((await mine(b)).items).toEqual([]);

    // A's session is as A left it.
    expect(await contents(a, 'mysession')).toEqual(aBefore);
    expect((await mine(a)).items).toEqual([
      expect.objectContaining({ session_id: 'mysession', title: 'The secret plan of A', message_count: 4 }),
    ]);
  });

  it('gives an anonymous client its own session under a user’s short id, telling it nothing of the user’s', async () => {
    const a = await token();
    llm.reply({ tokens: ['Ok'] });
    await chatOk(t.app, { message: 'Mine', session_id: 'short-id' }, a);
    llm.reply({ tokens: ['Hello stranger'] });
    const response = await postChat(t.app, { message: 'Hi', session_id: 'short-id' });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({ session_id: 'short-id', response: 'Hello stranger' });
    expect(conversation(llm.requests.at(-1)?.body)).toEqual([{ role: 'user', content: 'Hi' }]);
    expect(await contents(a, 'short-id')).toEqual([
      ['user', 'Mine'],
      ['assistant', 'Ok'],
    ]);
  });

  it(`makes one session of ${PARALLEL} parallel first messages with one new id by one user`, async () => {
    const a = await token();
    llm.reply(...Array.from({ length: PARALLEL }, () => ({ tokens: ['Ok'] })));
    const responses = await Promise.all(
      Array.from({ length: PARALLEL }, (_, i) =>
        postChat(t.app, { message: `Q${i}`, session_id: 'race' }, a),
      ),
    );
    for (const response of responses) expect(response.statusCode, response.body).toBe(200);
    const sessions = (await mine(a)).items;
    expect(sessions).toEqual([expect.objectContaining({ session_id: 'race', message_count: 2 * PARALLEL })]);
    const questions = (await contents(a, 'race')).filter(([role]) => role === 'user').map(([, text]) => text);
    expect(questions.sort()).toEqual(Array.from({ length: PARALLEL }, (_, i) => `Q${i}`).sort());
  });

  it(`makes two sessions of ${PARALLEL} parallel first messages with one new id by two users`, async () => {
    const [a, b] = [await token(), await token()];
    llm.reply(...Array.from({ length: PARALLEL }, () => ({ tokens: ['Ok'] })));
    const responses = await Promise.all(
      Array.from({ length: PARALLEL }, (_, i) =>
        postChat(t.app, { message: `${i % 2 ? 'B' : 'A'}${i}`, session_id: 'contested' }, i % 2 ? b : a),
      ),
    );
    for (const response of responses) expect(response.statusCode, response.body).toBe(200);
    for (const [owner, prefix] of [
      [a, 'A'],
      [b, 'B'],
    ] as const) {
      expect((await mine(owner)).items).toEqual([
        expect.objectContaining({ session_id: 'contested', message_count: PARALLEL }),
      ]);
      const questions = (await contents(owner, 'contested')).filter(([role]) => role === 'user');
      expect(questions).toHaveLength(PARALLEL / 2);
      for (const [, text] of questions) expect(text?.startsWith(prefix), text).toBe(true);
    }
  });
});
