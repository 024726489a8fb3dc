// Stored chat sessions: only their owner sees, continues, renames or deletes them (a session id names one of the
// caller's own sessions: anyone else gets the 404 of a session that does not exist, or starts a session of their own
// under that id — chat-session-scope.test.ts); anonymous clients see only their own (chat-anonymous-owners.test.ts);
// renaming and deleting as the original's clients expect.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { chatOk, sessionPage, type SessionList, type SessionSummary } from './chat.helpers.js';

describeEachDialect('chat sessions: ownership, rename, delete', (dialect) => {
  let t: TestApp;
  let llm: LlmStandIn;
  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest'] });
    t = await buildTestApp({ dialect, env: { OLLAMA_URL: llm.url, LLM_RETRY_BASE_MS: '1' } });
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

  it("gives user B a 404 on A's session for GET, PATCH and DELETE, without calling the model", async () => {
    const [a, b] = [await token(), await token()];
    llm.reply({ tokens: ['Hello A'] });
    const { session_id: id } = await chatOk(t.app, { message: 'The secret plan of A' }, a);
    const seen = llm.requests.length;
    const notFound = { detail: `Session ${id} not found`, code: 'session_not_found' };

    const url = `/api/v1/chat/sessions/${id}`;
    const attempts = [
      await t.app.inject({ url, headers: bearer(b) }),
      await t.app.inject({ method: 'PATCH', url, headers: bearer(b), payload: { title: 'Stolen' } }),
      await t.app.inject({ method: 'DELETE', url, headers: bearer(b) }),
    ];
    for (const response of attempts) {
      expect(response.statusCode, response.body).toBe(404);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect(response.json()).toMatchObject(notFound);
      expect(response.body).not.toContain('secret plan');
    }
    expect(llm.requests.length, 'the model was called').toBe(seen);
    expect((await mine(b)).items).toEqual([]);

    // A's session is as A left it: nothing added, renamed or deleted.
    const page = await sessionPage(t.app, a, id);
    expect(page).toMatchObject({ total: 2, title: 'The secret plan of A' });
    expect(page.messages.map((m) => m.content)).toEqual(['The secret plan of A', 'Hello A']);
  });

  it("shows a caller without a token none of a user's sessions, and refuses a bad token with 401", async () => {
    const a = await token();
    llm.reply({ tokens: ['Hi'] });
    const { session_id: id } = await chatOk(t.app, { message: 'Mine' }, a);
    const url = `/api/v1/chat/sessions/${id}`;
    for (const response of [
      await t.app.inject({ url }),
      await t.app.inject({ method: 'PATCH', url, payload: { title: 'x' } }),
      await t.app.inject({ method: 'DELETE', url }),
    ]) {
      expect(response.statusCode, response.body).toBe(404);
      expect(response.json()).toMatchObject({ code: 'session_not_found' });
    }
    const list = await t.app.inject({ url: '/api/v1/chat/sessions' });
    expect(list.statusCode, list.body).toBe(200);
    expect(list.json<SessionList>().items.map((s) => s.session_id)).not.toContain(id);
    for (const response of [
      await t.app.inject({ url, headers: bearer('not-a-token') }),
      await t.app.inject({ url: '/api/v1/chat/sessions', headers: bearer('not-a-token') }),
    ]) {
      expect(response.statusCode, response.body).toBe(401);
      expect(response.json()).toMatchObject({ code: expect.any(String) as unknown });
    }
    expect((await sessionPage(t.app, a, id)).total).toBe(2);
  });

  it('keeps anonymous sessions away from every user, and users’ sessions away from anonymous clients', async () => {
    const a = await token();
    llm.reply({ tokens: ['Hello stranger'] });
    const anonymous = await chatOk(t.app, { message: 'Anonymous question' });
    const seen = llm.requests.length;

    const read = await t.app.inject({
      url: `/api/v1/chat/sessions/${anonymous.session_id}`,
      headers: bearer(a),
    });
    expect(read.statusCode, read.body).toBe(404);
    expect(read.body).not.toContain('Anonymous question');
    expect(llm.requests.length).toBe(seen);
    // The anonymous session's id, sent by A, starts a session of A's own: the model sees nothing of the other.
    llm.reply({ tokens: ['A new one'] });
    const own = await chatOk(t.app, { message: 'Mine now', session_id: anonymous.session_id }, a);
    expect(own.session_id).toBe(anonymous.session_id);
    expect(JSON.stringify(llm.requests.at(-1)?.body)).not.toContain('Anonymous question');
    expect((await mine(a)).items).toEqual([
      expect.objectContaining({ session_id: anonymous.session_id, message_count: 2, title: 'Mine now' }),
    ]);

    llm.reply({ tokens: ['Yours'] });
    const owned = await chatOk(t.app, { message: 'Private' }, a);
    // And A's id, sent without a token, starts an anonymous session.
    llm.reply({ tokens: ['Hello again'] });
    await chatOk(t.app, { message: 'Hi', session_id: owned.session_id });
    expect(JSON.stringify(llm.requests.at(-1)?.body)).not.toContain('Private');
    expect((await sessionPage(t.app, a, owned.session_id)).total).toBe(2);

    // The anonymous session itself goes on as it was, for its own client (known by its address here).
    llm.reply({ tokens: ['Still here'] });
    await chatOk(t.app, { message: 'Anonymous again', session_id: anonymous.session_id });
    const context = JSON.stringify(llm.requests.at(-1)?.body);
    expect(context).toContain('Anonymous question');
    expect(context).not.toContain('Mine now');
  });

  it('creates a session with the id a user chose, as theirs', async () => {
    const [a, b] = [await token(), await token()];
    const id = `my-session-${randomBytes(4).toString('hex')}`;
    llm.reply({ tokens: ['First'] }, { tokens: ['Second'] });
    expect((await chatOk(t.app, { message: 'One', session_id: id }, a)).session_id).toBe(id);
    expect((await chatOk(t.app, { message: 'Two', session_id: id }, a)).session_id).toBe(id);
    const page = await sessionPage(t.app, a, id);
    expect(page.messages.map((m) => [m.role, m.content])).toEqual([
      ['user', 'One'],
      ['assistant', 'First'],
      ['user', 'Two'],
      ['assistant', 'Second'],
    ]);
    expect((await mine(a)).items.map((s) => s.session_id)).toEqual([id]);
    // The same id is B's own session for B.
    llm.reply({ tokens: ['Third'] });
    expect((await chatOk(t.app, { message: 'Three', session_id: id }, b)).session_id).toBe(id);
    expect((await sessionPage(t.app, b, id)).messages.map((m) => m.content)).toEqual(['Three', 'Third']);
    expect((await sessionPage(t.app, a, id)).total).toBe(4);
  });

  it('renames a session (the title as typed, blanks made one space) and keeps the name when more messages come', async () => {
    const a = await token();
    llm.reply({ tokens: ['Ok'] }, { tokens: ['Ok again'] });
    const { session_id: id } = await chatOk(t.app, { message: 'Original first message' }, a);
    expect((await sessionPage(t.app, a, id)).title).toBe('Original first message');

    const renamed = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/chat/sessions/${id}`,
      headers: bearer(a),
      payload: { title: '  <i>My</i>   renamed\n title\u0000 <script>alert(1)</script> & co ' },
    });
    expect(renamed.statusCode, renamed.body).toBe(200);
    const summary = renamed.json<SessionSummary>();
    expect(summary).toMatchObject({
      session_id: id,
      title: '<i>My</i> renamed title <script>alert(1)</script> & co',
      model: 'tinyllama:latest',
      message_count: 2,
    });

    await chatOk(t.app, { message: 'A later message', session_id: id }, a);
    expect((await sessionPage(t.app, a, id)).title).toBe(
      '<i>My</i> renamed title <script>alert(1)</script> & co',
    );
    expect((await mine(a)).items).toEqual([
      expect.objectContaining({
        session_id: id,
        title: '<i>My</i> renamed title <script>alert(1)</script> & co',
        message_count: 4,
      }),
    ]);
  });

  it('refuses an empty, blank, control-only or too long title, and keeps the old one', async () => {
    const a = await token();
    llm.reply({ tokens: ['Ok'] });
    const { session_id: id } = await chatOk(t.app, { message: 'Keep this title' }, a);
    const rename = (title: unknown) =>
      t.app.inject({
        method: 'PATCH',
        url: `/api/v1/chat/sessions/${id}`,
        headers: bearer(a),
        payload: { title },
      });

    for (const title of ['', '   ', ' \n\t ', '\u0000\u0001\u001b']) {
      const response = await rename(title);
      expect([400, 422], `${JSON.stringify(title)}: ${response.body}`).toContain(response.statusCode);
    }
    const long = await rename('x'.repeat(81));
    expect(long.statusCode, long.body).toBe(400);
    expect(long.json()).toMatchObject({ detail: 'Title exceeds maximum length of 80 characters' });
    const missing = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/chat/sessions/${id}`,
      headers: bearer(a),
      payload: {},
    });
    expect(missing.statusCode, missing.body).toBe(422);

    expect((await sessionPage(t.app, a, id)).title).toBe('Keep this title');
    const exact = await rename('y'.repeat(80));
    expect(exact.statusCode, exact.body).toBe(200);
    expect(exact.json<SessionSummary>().title).toBe('y'.repeat(80));
  });

  it('deletes a session with its messages, as the original answers; then it is gone', async () => {
    const a = await token();
    llm.reply({ tokens: ['One'] }, { tokens: ['Two'] }, { tokens: ['Other'] });
    const { session_id: id } = await chatOk(t.app, { message: 'First' }, a);
    await chatOk(t.app, { message: 'Second', session_id: id }, a);
    const { session_id: other } = await chatOk(t.app, { message: 'Another session' }, a);

    const url = `/api/v1/chat/sessions/${id}`;
    const deleted = await t.app.inject({ method: 'DELETE', url, headers: bearer(a) });
    expect(deleted.statusCode, deleted.body).toBe(200);
    expect(deleted.json()).toEqual({
      status: 'success',
      message: `Session ${id} cleared`,
      messages_deleted: 4,
    });

    for (const response of [
      await t.app.inject({ url, headers: bearer(a) }),
      await t.app.inject({ method: 'DELETE', url, headers: bearer(a) }),
      await t.app.inject({ method: 'PATCH', url, headers: bearer(a), payload: { title: 'Back?' } }),
    ]) {
      expect(response.statusCode, response.body).toBe(404);
      expect(response.json()).toMatchObject({ detail: `Session ${id} not found` });
    }
    expect((await mine(a)).items.map((s) => s.session_id)).toEqual([other]);
    expect((await sessionPage(t.app, a, other)).total).toBe(2);
  });
});
