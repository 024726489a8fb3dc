// Listing chat sessions (newest activity first, signed keyset cursors) and paging a session's messages (the
// original's skip/limit page, plus a keyset cursor). Out-of-range or forged values are a 422, never a 500.
// Time comes from a ManualClock, so that activity order and ties between sessions are set by the test.
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { ManualClock } from '../../../src/lib/clock.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { chatOk, sessionPage, type SessionList } from './chat.helpers.js';

describeEachDialect('chat sessions: lists and pages', (dialect) => {
  let t: TestApp;
  let llm: LlmStandIn;
  const clock = new ManualClock(new Date('2030-01-01T00:00:00.000Z'));
  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest', 'qwen2:0.5b'] });
    t = await buildTestApp({ dialect, clock, env: { OLLAMA_URL: llm.url, LLM_RETRY_BASE_MS: '1' } });
  });
  afterEach(() => llm.assertNoUnexpected());
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  const token = async () => (await registerAndLogin(t.app)).tokens.access_token;
  const say = async (owner: string, message: string, extra: Record<string, unknown> = {}) => {
    llm.reply({ tokens: [`Answer to ${message.slice(0, 10)}`] });
    return (await chatOk(t.app, { message, ...extra }, owner)).session_id;
  };
  const list = (owner: string, query: string) =>
    t.app.inject({ url: `/api/v1/chat/sessions${query}`, headers: bearer(owner) });

  it("lists only the caller's sessions, most recently active first, with title, model, count and activity", async () => {
    const [a, b] = [await token(), await token()];
    const start = clock.now().getTime();
    const first = await say(a, 'First line of session one\nand a second line');
    clock.advance(1000);
    const long = `${'é'.repeat(70)} ${'x'.repeat(40)}`;
    const second = await say(a, long, { model: 'qwen2:0.5b' });
    clock.advance(1000);
    const third = await say(a, '<b>Bold</b> & <script>alert(1)</script>plain');
    clock.advance(1000);
    const foreign = await say(b, 'B only');
    clock.advance(1000);
    await say(a, 'Back to the first', { session_id: first });

    const response = await list(a, '');
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json<SessionList>();
    expect(body).toMatchObject({ next_cursor: null, has_more: false });
    const at = (ms: number) => new Date(start + ms).toISOString();
    expect(body.items).toEqual([
      {
        session_id: first,
        title: 'First line of session one',
        model: 'tinyllama:latest',
        agent: null,
        message_count: 4,
        created_at: at(0),
        last_activity: at(4000),
      },
      {
        session_id: third,
        title: '<b>Bold</b> & <script>alert(1)</script>plain',
        model: 'tinyllama:latest',
        agent: null,
        message_count: 2,
        created_at: at(2000),
        last_activity: at(2000),
      },
      {
        session_id: second,
        title: `${'é'.repeat(70)} ${'x'.repeat(8)}…`,
        model: 'qwen2:0.5b',
        agent: null,
        message_count: 2,
        created_at: at(1000),
        last_activity: at(1000),
      },
    ]);
    expect([...(body.items[2]?.title ?? '')]).toHaveLength(80);
    const others = (await list(b, '')).json<SessionList>();
    expect(others.items.map((s) => s.session_id)).toEqual([foreign]);
  });

  it('pages 7 sessions with limit 3 by cursor, each exactly once, ties included', async () => {
    const a = await token();
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      ids.push(await say(a, `Session number ${i}`));
      // Pairs share their last activity, so the cursor must break ties.
      if (i % 2 === 1) clock.advance(1000);
    }
    const whole = (await list(a, '?limit=500')).json<SessionList>().items.map((s) => s.session_id);
    expect(new Set(whole)).toEqual(new Set(ids));

    const seen: string[] = [];
    const pages: number[] = [];
    let cursor: string | null = null;
    do {
      const response = await list(a, `?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(response.statusCode, response.body).toBe(200);
      const page = response.json<SessionList>();
      expect(page.has_more).toBe(page.next_cursor !== null);
      pages.push(page.items.length);
      seen.push(...page.items.map((s) => s.session_id));
      cursor = page.next_cursor;
    } while (cursor !== null && pages.length < 10);
    expect(pages).toEqual([3, 3, 1]);
    expect(seen).toEqual(whole);
    expect(new Set(seen).size).toBe(7);
  });

  it('refuses a tampered or foreign cursor and a limit out of range with 422', async () => {
    const [a, b] = [await token(), await token()];
    for (let i = 0; i < 3; i++) await say(a, `Mine ${i}`);
    const first = (await list(a, '?limit=1')).json<SessionList>();
    const cursor = first.next_cursor ?? '';
    expect(cursor).not.toBe('');
    expect((await list(a, `?limit=1&cursor=${encodeURIComponent(cursor)}`)).statusCode).toBe(200);

    const [payload = '', tag = ''] = cursor.split('.');
    const flip = (text: string) => `${text.slice(0, -1)}${text.endsWith('A') ? 'B' : 'A'}`;
    const forged = Buffer.from(JSON.stringify({ id: 'zzz', ts: '2999-01-01T00:00:00.000Z' })).toString(
      'base64url',
    );
    const sessionId = await say(a, 'Messages cursor');
    const messagesCursor = (await sessionPage(t.app, a, sessionId, '?limit=1')).next_cursor ?? '';
    for (const bad of [
      `${flip(payload)}.${tag}`,
      `${payload}.${flip(tag)}`,
      `${forged}.${tag}`,
      payload,
      'not-a-cursor',
      'x'.repeat(600),
      messagesCursor,
    ]) {
      const response = await list(a, `?cursor=${encodeURIComponent(bad)}`);
      expect(response.statusCode, `${bad}: ${response.body}`).toBe(422);
    }
    // A's cursor means nothing to B.
    const foreign = await list(b, `?cursor=${encodeURIComponent(cursor)}`);
    expect(foreign.statusCode, foreign.body).toBe(422);
    expect(foreign.json()).toMatchObject({ detail: [{ loc: ['query', 'cursor'] }] });
    for (const limit of ['0', '501', '-1', 'abc', '1.5']) {
      const response = await list(a, `?limit=${limit}`);
      expect(response.statusCode, `limit=${limit}: ${response.body}`).toBe(422);
      expect(response.json()).toMatchObject({ detail: [{ loc: ['query', 'limit'] }] });
    }
  });

  it("pages a session's messages with skip/limit in the original's shape, plus next_cursor", async () => {
    const a = await token();
    const created = clock.now().toISOString();
    const id = await say(a, 'Turn 0');
    clock.advance(1000);
    await say(a, 'Turn 1', { session_id: id });
    await say(a, 'Turn 2', { session_id: id });
    const contents = [
      'Turn 0',
      'Answer to Turn 0',
      'Turn 1',
      'Answer to Turn 1',
      'Turn 2',
      'Answer to Turn 2',
    ];

    const all = await sessionPage(t.app, a, id);
    expect(all).toMatchObject({
      session_id: id,
      total: 6,
      skip: 0,
      limit: 50,
      has_more: false,
      page: 1,
      total_pages: 1,
      created_at: created,
      next_cursor: null,
    });
    expect(all.messages.map((m) => m.content)).toEqual(contents);
    expect(all.messages.map((m) => m.role)).toEqual([
      'user',
      'assistant',
      'user',
      'assistant',
      'user',
      'assistant',
    ]);
    expect(all.messages.every((m) => m.status === 'complete')).toBe(true);

    const middle = await sessionPage(t.app, a, id, '?skip=2&limit=2');
    expect(middle).toMatchObject({ total: 6, skip: 2, limit: 2, has_more: true, page: 2, total_pages: 3 });
    expect(middle.messages.map((m) => m.content)).toEqual(contents.slice(2, 4));
    expect(middle.next_cursor).toEqual(expect.any(String));

    const last = await sessionPage(t.app, a, id, '?skip=4&limit=4');
    expect(last).toMatchObject({ has_more: false, page: 2, total_pages: 2, next_cursor: null });
    expect(last.messages.map((m) => m.content)).toEqual(contents.slice(4));

    const beyond = await sessionPage(t.app, a, id, '?skip=10&limit=5');
    expect(beyond).toMatchObject({ messages: [], total: 6, has_more: false, page: 3, total_pages: 2 });
  });

  it('walks a session by ?cursor=, every message exactly once', async () => {
    const a = await token();
    const id = await say(a, 'Q0');
    for (let i = 1; i < 4; i++) await say(a, `Q${i}`, { session_id: id });
    const expected = (await sessionPage(t.app, a, id)).messages.map((m) => m.id);
    expect(expected).toHaveLength(8);

    for (const limit of [1, 3, 8]) {
      const seen: number[] = [];
      let query = `?limit=${limit}`;
      for (let guard = 0; guard < 20; guard++) {
        const page = await sessionPage(t.app, a, id, query);
        expect(page.total).toBe(8);
        seen.push(...page.messages.map((m) => m.id));
        expect(page.has_more).toBe(page.next_cursor !== null);
        if (page.next_cursor === null) break;
        query = `?limit=${limit}&cursor=${encodeURIComponent(page.next_cursor)}`;
      }
      expect(seen, `limit ${limit}`).toEqual(expected);
    }
  });

  it('answers 422, never 500, for skip, limit or cursor out of range on a session page', async () => {
    const [a, b] = [await token(), await token()];
    const id = await say(a, 'Paged');
    await say(a, 'Paged again', { session_id: id });
    const other = await say(a, 'Other session');
    const cursorOf = async (owner: string, session: string) =>
      (await sessionPage(t.app, owner, session, '?limit=1')).next_cursor ?? '';
    const own = await cursorOf(a, id);
    const otherSession = await cursorOf(a, other);
    const listCursor = (await list(a, '?limit=1')).json<SessionList>().next_cursor ?? '';
    const bSession = await say(b, 'B session');
    await say(b, 'B again', { session_id: bSession });
    const fromB = await cursorOf(b, bSession);

    const bad = [
      'skip=-1',
      'limit=0',
      'limit=501',
      'skip=1e99',
      'skip=9007199254740992',
      'skip=abc',
      'limit=',
      `cursor=${encodeURIComponent(`${own}x`)}`,
      `cursor=${encodeURIComponent(otherSession)}`,
      `cursor=${encodeURIComponent(listCursor)}`,
      `cursor=${encodeURIComponent(fromB)}`,
      'cursor=',
    ];
    for (const query of bad) {
      const response = await t.app.inject({
        url: `/api/v1/chat/sessions/${id}?${query}`,
        headers: bearer(a),
      });
      expect(response.statusCode, `${query}: ${response.body}`).toBe(422);
      expect(response.json()).toMatchObject({ code: 'validation_error' });
    }
    expect(
      (await sessionPage(t.app, a, id, `?limit=1&cursor=${encodeURIComponent(own)}`)).messages,
    ).toHaveLength(1);
  });
});
