// Integer query and path parameters take decimal digits only: "Infinity", "1e400", "0x10", "+5", "5.0" and the like
// are a 422 at the parameter, on every route that has one, never a 500 from the database (SQLite "datatype
// mismatch", PostgreSQL 22P02) nor a silently converted number. Decimal text in range still works.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, login, newUser, register, registerAndLogin } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { chatOk } from '../chat/chat.helpers.js';

/** As they appear in the URL ("%205" is " 5"; "+" in a query string is a space too). */
const NOT_DECIMAL_INTEGERS = [
  'Infinity',
  '-Infinity',
  '1e400',
  '1e2',
  '0x10',
  '0b11',
  '0o7',
  '%205',
  '+5',
  '%2B5',
  '5.0',
  '5%20',
  '99999999999999999999',
  'NaN',
];

interface Issue {
  loc: (string | number)[];
  type: string;
}

describeEachDialect('integer parameters', (dialect) => {
  let t: TestApp;
  let llm: LlmStandIn;
  let admin: string;
  let user: string;
  let session: string;
  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest'] });
    t = await buildTestApp({ dialect, env: { OLLAMA_URL: llm.url, LLM_RETRY_BASE_MS: '1' } });
    const account = await register(t.app, newUser());
    await t.app.database.db
      .updateTable('users')
      .set({ is_superuser: true })
      .where('id', '=', account.id)
      .execute();
    admin = (await login(t.app, account.username, account.password)).access_token;
    user = (await registerAndLogin(t.app)).tokens.access_token;
    llm.reply({ tokens: ['An answer'] });
    session = (await chatOk(t.app, { message: 'A session to page through' }, user)).session_id;
  });
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  /** Every integer parameter of the API: how to send `value` in it, and where a 422 points. */
  const parameters = () => [
    {
      name: 'GET /chat/sessions ?limit',
      loc: ['query', 'limit'],
      token: user,
      url: (v: string) => `/api/v1/chat/sessions?limit=${v}`,
    },
    {
      name: 'GET /chat/sessions/{id} ?skip',
      loc: ['query', 'skip'],
      token: user,
      url: (v: string) => `/api/v1/chat/sessions/${session}?skip=${v}`,
    },
    {
      name: 'GET /chat/sessions/{id} ?limit',
      loc: ['query', 'limit'],
      token: user,
      url: (v: string) => `/api/v1/chat/sessions/${session}?limit=${v}`,
    },
    {
      name: 'GET /auth/users ?skip',
      loc: ['query', 'skip'],
      token: admin,
      url: (v: string) => `/api/v1/auth/users?skip=${v}`,
    },
    {
      name: 'GET /auth/users ?limit',
      loc: ['query', 'limit'],
      token: admin,
      url: (v: string) => `/api/v1/auth/users?limit=${v}`,
    },
  ];

  it.each(NOT_DECIMAL_INTEGERS)(
    '%s is a 422 at the parameter on every integer query parameter',
    async (value) => {
      for (const parameter of parameters()) {
        const res = await t.app.inject({ url: parameter.url(value), headers: bearer(parameter.token) });
        expect(res.statusCode, `${parameter.name}=${value}: ${res.body}`).toBe(422);
        const detail = res.json<{ detail: Issue[] }>().detail;
        expect(detail, parameter.name).toContainEqual(
          expect.objectContaining({ loc: parameter.loc, type: 'integer_type' }),
        );
      }
    },
  );

  it.each(NOT_DECIMAL_INTEGERS)(
    '%s is a 422 at the path parameter of PATCH /auth/users/{id}',
    async (value) => {
      const res = await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/auth/users/${value}`,
        headers: bearer(admin),
        payload: { is_active: true },
      });
      expect(res.statusCode, res.body).toBe(422);
      expect(res.json<{ detail: Issue[] }>().detail).toContainEqual(
        expect.objectContaining({ loc: ['path', 'id'], type: 'integer_type' }),
      );
    },
  );

  it.each(['5', '1', '007'])('the decimal %s still works on every integer query parameter', async (value) => {
    for (const parameter of parameters()) {
      const res = await t.app.inject({ url: parameter.url(value), headers: bearer(parameter.token) });
      expect(res.statusCode, `${parameter.name}=${value}: ${res.body}`).toBe(200);
    }
  });

  it('a decimal value out of range is a 422 (less_than_equal), not a database error', async () => {
    const res = await t.app.inject({ url: '/api/v1/chat/sessions?limit=501', headers: bearer(user) });
    expect(res.statusCode).toBe(422);
    expect(res.json<{ detail: Issue[] }>().detail).toContainEqual(
      expect.objectContaining({ loc: ['query', 'limit'], type: 'less_than_equal' }),
    );
    const skip = await t.app.inject({
      url: `/api/v1/chat/sessions/${session}?skip=9007199254740992`,
      headers: bearer(user),
    });
    expect(skip.statusCode).toBe(422);
  });
});
