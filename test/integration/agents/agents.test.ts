// /api/v1/agents on both dialects: the nine seeded agents in the original's shape with real statuses (a live and a
// dead agent server, an available and a missing model), the probes cached and shared, the original `create` query
// form and a JSON body, ownership and visibility on read, change and delete, and bad input answered 4xx.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, registerAndLogin, superuserToken } from '../../helpers/auth.js';
import { closedPort } from '../../helpers/closed-port.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';

interface AgentItem {
  id: string;
  name: string;
  type: string;
  description: string;
  capabilities: string[];
  endpoint: string | null;
  port: number | null;
  status: string;
  model: string | null;
  visibility: string;
  owner_id: number | null;
  built_in: boolean;
  provider?: string;
  local?: boolean;
  max_tokens: number | null;
}

const BUILT_IN_IDS = [
  'aider',
  'crewai',
  'documind',
  'finrobot',
  'gpt-engineer',
  'langchain',
  'letta',
  'shellgpt',
  'tinyllama',
];

/** A stand-in agent service: GET /health answers 200 and is counted. */
async function startAgentServer(): Promise<{
  url: string;
  probes: () => number;
  close: () => Promise<void>;
}> {
  let probes = 0;
  const server = http.createServer((req, res) => {
    if (req.url === '/health') probes++;
    res.writeHead(req.url === '/health' ? 200 : 404, { 'content-type': 'application/json' });
    res.end('{"status":"ok"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    probes: () => probes,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describeEachDialect('agents', (dialect) => {
  let llm: LlmStandIn;
  let live: Awaited<ReturnType<typeof startAgentServer>>;
  let deadUrl: string;
  let t: TestApp;
  let admin: string;
  let alice: { id: number; token: string };
  let bob: { id: number; token: string };

  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest'] });
    live = await startAgentServer();
    deadUrl = `http://127.0.0.1:${await closedPort()}`;
    t = await buildTestApp({
      dialect,
      env: { OLLAMA_URL: llm.url, LLM_RETRY_BASE_MS: '1', AGENTS_BASE_URL: 'http://127.0.0.1/' },
    });
    admin = await superuserToken(t.app);
    const a = await registerAndLogin(t.app);
    alice = { id: a.user.id, token: a.tokens.access_token };
    const b = await registerAndLogin(t.app);
    bob = { id: b.user.id, token: b.tokens.access_token };
  });
  afterAll(async () => {
    await t?.close();
    await live?.close();
    await llm?.close();
  });

  const get = (url: string, token?: string) =>
    t.app.inject({ method: 'GET', url, headers: token === undefined ? {} : bearer(token) });
  const create = (payload: Record<string, unknown>, token: string, query = '') =>
    t.app.inject({ method: 'POST', url: `/api/v1/agents/create${query}`, headers: bearer(token), payload });

  it('lists the nine seeded agents in the original shape, each with its real status', async () => {
    const response = await get('/api/v1/agents/');
    expect(response.statusCode, response.body).toBe(200);
    const agents = response.json<AgentItem[]>().filter((agent) => agent.built_in);
    expect(agents.map((agent) => agent.id)).toEqual(BUILT_IN_IDS);
    const letta = agents.find((agent) => agent.id === 'letta');
    expect(letta).toMatchObject({
      name: 'Letta (MemGPT)',
      type: 'memory',
      capabilities: ['memory', 'chat', 'task-automation'],
      endpoint: 'http://127.0.0.1:11401',
      port: 11401,
      owner_id: null,
      visibility: 'public',
    });
    // Nothing listens on the built-in ports here: their probes fail; tinyllama's model is served by the stand-in.
    for (const agent of agents.filter((a) => a.id !== 'tinyllama')) expect(agent.status).toBe('unreachable');
    expect(agents.find((agent) => agent.id === 'tinyllama')).toMatchObject({
      type: 'llm',
      status: 'active',
      model: 'tinyllama:latest',
      provider: 'ollama',
      local: true,
      max_tokens: 2048,
      endpoint: 'http://127.0.0.1:11434',
    });
  });

  it('probes an external agent at /health: active when it answers, unreachable when it is down; once per TTL for concurrent lists', async () => {
    const up = await create(
      { id: 'live-agent', name: 'Live', type: 'service', endpoint: live.url, visibility: 'public' },
      admin,
    );
    expect(up.statusCode, up.body).toBe(201);
    expect(up.json<AgentItem>()).toMatchObject({ status: 'active', endpoint: live.url });
    const down = await create(
      { id: 'dead-agent', name: 'Dead', type: 'service', endpoint: deadUrl, visibility: 'public' },
      admin,
    );
    expect(down.json<AgentItem>()).toMatchObject({ status: 'unreachable' });

    const before = live.probes();
    const lists = await Promise.all(Array.from({ length: 20 }, () => get('/api/v1/agents/')));
    for (const list of lists) {
      expect(list.statusCode).toBe(200);
      expect(list.json<AgentItem[]>().find((agent) => agent.id === 'live-agent')?.status).toBe('active');
    }
    // Within AGENTS_STATUS_TTL_MS (10 s) the probe made for the create answers every list.
    expect(live.probes() - before).toBe(0);
    expect(live.probes()).toBe(1);
  });

  it('says model_unavailable for an assistant whose model the provider does not have', async () => {
    const response = await create(
      {
        id: 'qwen-helper',
        name: 'Qwen helper',
        type: 'assistant',
        model: 'qwen:7b',
        system_prompt: 'Be brief.',
      },
      alice.token,
    );
    expect(response.statusCode, response.body).toBe(201);
    expect(response.json<AgentItem>()).toMatchObject({
      status: 'model_unavailable',
      model: 'qwen:7b',
      visibility: 'private',
    });
  });

  it('creates with the original query form, private to its owner, and stores the name exactly', async () => {
    const name = '<script>alert(1)</script> Ünïcode “quotes” 🤖';
    const response = await t.app.inject({
      method: 'POST',
      url: `/api/v1/agents/create?agent_type=custom&name=${encodeURIComponent(name)}`,
      headers: bearer(alice.token),
    });
    expect(response.statusCode, response.body).toBe(201);
    const agent = response.json<AgentItem>();
    expect(agent).toMatchObject({
      id: 'script-alert-1-script-unicode-quotes',
      name,
      type: 'custom',
      owner_id: alice.id,
      visibility: 'private',
      built_in: false,
    });

    expect((await get(`/api/v1/agents/${agent.id}`, alice.token)).json<AgentItem>().name).toBe(name);
    expect((await get(`/api/v1/agents/${agent.id}`, bob.token)).statusCode).toBe(404);
    expect((await get(`/api/v1/agents/${agent.id}`)).statusCode).toBe(404);
    const bobsList = (await get('/api/v1/agents/', bob.token)).json<AgentItem[]>();
    expect(bobsList.map((a) => a.id)).not.toContain(agent.id);
    const alicesList = (await get('/api/v1/agents/', alice.token)).json<AgentItem[]>();
    expect(alicesList.map((a) => a.id)).toContain(agent.id);
  });

  it('answers bad creates with clear 4xx', async () => {
    const anonymous = await t.app.inject({
      method: 'POST',
      url: '/api/v1/agents/create?agent_type=x&name=y',
    });
    expect(anonymous.statusCode).toBe(401);
    const missing = await t.app.inject({
      method: 'POST',
      url: '/api/v1/agents/create?name=only',
      headers: bearer(alice.token),
    });
    expect(missing.statusCode).toBe(422);
    expect(missing.body).toContain('agent_type');
    const cases: [Record<string, unknown>, number, string][] = [
      [{ id: 'letta', name: 'Mine', type: 'x' }, 409, 'agent_exists'],
      [{ name: '!!!', type: 'x' }, 400, 'invalid_agent_id'],
      [{ name: 'x'.repeat(201), type: 'x' }, 422, 'validation_error'],
      [{ name: 'ok', type: 'x', id: "x' OR 1=1--" }, 422, 'validation_error'],
      [{ name: 'ok', type: 'x', temperature: 'hot' }, 422, 'validation_error'],
      [{ name: 'ok', type: 'x', capabilities: 'chat' }, 422, 'validation_error'],
      [{ name: 'ok', type: 'x', endpoint: 'http://169.254.169.254' }, 403, 'endpoint_not_allowed'],
      [{ name: 'ok', type: 'x', endpoint: 'file:///etc/passwd' }, 422, 'validation_error'],
      [{ name: 5, type: 'x' }, 422, 'validation_error'],
    ];
    for (const [payload, status, code] of cases) {
      const response = await create(payload, alice.token);
      expect(response.statusCode, JSON.stringify(payload)).toBe(status);
      expect(response.json<{ code: string }>().code).toBe(code);
    }
    const again = await create({ id: 'twice', name: 'Twice', type: 'x' }, alice.token);
    expect(again.statusCode).toBe(201);
    const clash = await create({ id: 'twice', name: 'Twice', type: 'x' }, bob.token);
    expect(clash.statusCode).toBe(409);
    expect((await get(`/api/v1/agents/${encodeURIComponent("x' OR 1=1--")}`)).statusCode).toBe(422);
    expect((await get('/api/v1/agents/a%00b')).statusCode).toBe(422);
    for (const id of ['models', 'metrics', 'model', 'create']) {
      const reserved = await create({ id, name: 'Reserved', type: 'x' }, alice.token);
      expect(reserved.statusCode, id).toBe(400);
      expect(reserved.json<{ code: string }>().code).toBe('agent_id_reserved');
    }
    const fromName = await t.app.inject({
      method: 'POST',
      url: '/api/v1/agents/create?agent_type=a&name=Models',
      headers: bearer(alice.token),
    });
    expect(fromName.statusCode).toBe(400);
  });

  it('lets the owner and superusers change and delete; 403 for others’ public agents, 404 for their private ones', async () => {
    const mine = await create(
      { id: 'alices-public', name: 'Public one', type: 'x', visibility: 'public' },
      alice.token,
    );
    expect(mine.statusCode).toBe(201);
    const hidden = await create({ id: 'alices-private', name: 'Private one', type: 'x' }, alice.token);
    expect(hidden.statusCode).toBe(201);
    const put = (id: string, token: string, payload: Record<string, unknown>) =>
      t.app.inject({ method: 'PUT', url: `/api/v1/agents/${id}`, headers: bearer(token), payload });
    const del = (id: string, token: string) =>
      t.app.inject({ method: 'DELETE', url: `/api/v1/agents/${id}`, headers: bearer(token) });

    expect((await put('alices-public', bob.token, { name: 'Taken' })).statusCode).toBe(403);
    expect((await put('alices-private', bob.token, { name: 'Taken' })).statusCode).toBe(404);
    expect((await del('alices-public', bob.token)).statusCode).toBe(403);
    expect((await del('alices-private', bob.token)).statusCode).toBe(404);
    expect((await put('letta', bob.token, { name: 'Mine now' })).statusCode).toBe(403);
    expect((await put('alices-public', alice.token, {})).statusCode).toBe(422);

    const renamed = await put('alices-public', alice.token, { name: 'Renamed ✓', description: 'a & b < c' });
    expect(renamed.statusCode, renamed.body).toBe(200);
    expect(renamed.json<AgentItem>()).toMatchObject({ name: 'Renamed ✓', description: 'a & b < c' });
    const byAdmin = await put('letta', admin, { description: 'Checked by an admin' });
    expect(byAdmin.json<AgentItem>()).toMatchObject({
      id: 'letta',
      description: 'Checked by an admin',
      owner_id: null,
    });

    expect((await del('alices-private', alice.token)).statusCode).toBe(200);
    expect((await get('/api/v1/agents/alices-private', alice.token)).statusCode).toBe(404);
    expect((await del('alices-public', admin)).statusCode).toBe(200);
    expect((await del('alices-public', admin)).statusCode).toBe(404);
  });

  it('stores text as the chat does (NUL and lone surrogates cleaned, the same on both dialects), and a temperature exactly', async () => {
    const response = await create(
      {
        id: 'cleaned',
        name: 'a\u0000b\ud800c',
        type: 't\u0007',
        description: 'tab\tkept',
        system_prompt: 'x\u0000y',
        capabilities: ['c\u0000d'],
        temperature: 0.123456789,
      },
      alice.token,
    );
    expect(response.statusCode, response.body).toBe(201);
    const stored = (await get('/api/v1/agents/cleaned', alice.token)).json<
      AgentItem & { system_prompt: string; temperature: number }
    >();
    expect(stored).toMatchObject({
      name: 'ab\ufffdc',
      type: 't',
      description: 'tab\tkept',
      system_prompt: 'xy',
      capabilities: ['cd'],
      temperature: 0.123456789,
    });
  });

  it('pages with skip and limit', async () => {
    const all = (await get('/api/v1/agents/', alice.token)).json<AgentItem[]>();
    const page = await get('/api/v1/agents/?skip=1&limit=2', alice.token);
    expect(page.statusCode, page.body).toBe(200);
    const body = page.json<{ items: AgentItem[]; total: number; skip: number; limit: number }>();
    expect(body.items.map((agent) => agent.id)).toEqual(all.slice(1, 3).map((agent) => agent.id));
    expect(body).toMatchObject({ total: all.length, skip: 1, limit: 2 });
    expect((await get('/api/v1/agents/?limit=0')).statusCode).toBe(422);
  });
});
