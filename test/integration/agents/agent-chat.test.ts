// Chat through an agent on both dialects: over JSON, SSE and a WebSocket frame the stand-in LLM receives the agent's
// model, system prompt and defaults (explicit request fields win), the session records its agent and keeps it when
// continued, and an agent that cannot chat or may not be seen is a clear 4xx.
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { bearer, registerAndLogin, superuserToken } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';
import { closeAllSockets, connectChat } from '../../helpers/ws-client.js';
import { postChat } from '../chat/chat.helpers.js';

interface Upstream {
  model: string;
  messages: { role: string; content: string }[];
  options: { temperature?: number; num_predict?: number };
}

describeEachDialect('chat through an agent', (dialect) => {
  let llm: LlmStandIn;
  let t: TestApp;
  let base: string;
  let alice: string;
  let bob: string;
  const lastUpstream = () => llm.requests.filter((r) => r.path === '/api/chat').at(-1)?.body as Upstream;

  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest', 'qwen:7b'] });
    t = await buildTestApp({ dialect, env: { OLLAMA_URL: llm.url, LLM_RETRY_BASE_MS: '1' } });
    base = (await t.app.listen({ port: 0, host: '127.0.0.1' })).replace(/^http/, 'ws');
    const admin = await superuserToken(t.app);
    alice = (await registerAndLogin(t.app)).tokens.access_token;
    bob = (await registerAndLogin(t.app)).tokens.access_token;
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/agents/create',
      headers: bearer(admin),
      payload: {
        id: 'poet',
        name: 'Poet',
        type: 'assistant',
        model: 'qwen:7b',
        system_prompt: 'You answer in rhyme <always>.',
        temperature: 0.1,
        max_tokens: 42,
        visibility: 'public',
      },
    });
    expect(created.statusCode, created.body).toBe(201);
    const hidden = await t.app.inject({
      method: 'POST',
      url: '/api/v1/agents/create',
      headers: bearer(bob),
      payload: { id: 'bobs-secret', name: 'Secret', type: 'assistant', model: 'qwen:7b' },
    });
    expect(hidden.statusCode, hidden.body).toBe(201);
  });
  afterEach(() => {
    closeAllSockets();
    llm.assertNoUnexpected();
  });
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  it('sends the agent’s model, system prompt and defaults upstream, and keeps the agent when the session goes on', async () => {
    llm.reply({ tokens: ['Roses'] }, { tokens: ['Again'] }, { tokens: ['Hot'] });
    const first = await postChat(t.app, { message: 'A poem, please', agent: 'poet' }, alice);
    expect(first.statusCode, first.body).toBe(200);
    const { session_id: sessionId, model } = first.json<{ session_id: string; model: string }>();
    expect(model).toBe('qwen:7b');
    expect(lastUpstream()).toMatchObject({
      model: 'qwen:7b',
      messages: [
        { role: 'system', content: 'You answer in rhyme <always>.' },
        { role: 'user', content: 'A poem, please' },
      ],
      options: { temperature: 0.1, num_predict: 42 },
    });

    const next = await postChat(t.app, { message: 'Another', session_id: sessionId }, alice);
    expect(next.statusCode, next.body).toBe(200);
    expect(lastUpstream().messages[0]).toEqual({ role: 'system', content: 'You answer in rhyme <always>.' });
    expect(lastUpstream().model).toBe('qwen:7b');

    const explicit = await postChat(
      t.app,
      { message: 'Hotter', session_id: sessionId, temperature: 0.9, max_tokens: 7 },
      alice,
    );
    expect(explicit.statusCode, explicit.body).toBe(200);
    expect(lastUpstream().options).toMatchObject({ temperature: 0.9, num_predict: 7 });

    const list = await t.app.inject({ url: '/api/v1/chat/sessions', headers: bearer(alice) });
    const session = list
      .json<{ items: { session_id: string; agent: string | null }[] }>()
      .items.find((item) => item.session_id === sessionId);
    expect(session?.agent).toBe('poet');
  });

  it('chats through an agent over SSE and over a WebSocket frame', async () => {
    llm.reply({ tokens: ['Streamed'] }, { tokens: ['Socketed'] });
    const sse = await postChat(t.app, { message: 'Stream it', agent: 'poet', stream: true }, alice);
    expect(sse.statusCode, sse.body).toBe(200);
    expect(sse.body).toContain('event: end');
    expect(lastUpstream().messages[0]?.content).toBe('You answer in rhyme <always>.');

    const socket = await connectChat(`${base}/api/v1/chat/ws?token=${alice}`);
    socket.send({ message: 'Over the socket', agent: 'poet' });
    expect(await socket.next('stream_end')).toMatchObject({ full_response: 'Socketed', model: 'qwen:7b' });
    expect(lastUpstream().messages[0]?.content).toBe('You answer in rhyme <always>.');
  });

  it('refuses an external agent (400), an unknown or another user’s private one (404), a malformed id (422)', async () => {
    const cases: [string, number, string][] = [
      ['letta', 400, 'agent_cannot_chat'],
      ['no-such-agent', 404, 'agent_not_found'],
      ['bobs-secret', 404, 'agent_not_found'],
      ["poet'; DROP TABLE agents;--", 422, 'validation_error'],
    ];
    const before = llm.requests.length;
    for (const [agent, status, code] of cases) {
      const response = await postChat(t.app, { message: 'Hello', agent }, alice);
      expect(response.statusCode, agent).toBe(status);
      expect(response.json<{ code: string }>().code).toBe(code);
    }
    // Nothing reached the model.
    expect(llm.requests.length).toBe(before);
    llm.reply({ tokens: ['Yours'] });
    const bobs = await postChat(t.app, { message: 'Mine', agent: 'bobs-secret' }, bob);
    expect(bobs.statusCode).toBe(200);
  });

  it('keeps an agent’s max_tokens within LLM_MAX_TOKENS', async () => {
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/agents/create',
      headers: bearer(alice),
      payload: { id: 'greedy', name: 'Greedy', type: 'assistant', model: 'qwen:7b', max_tokens: 1_000_000 },
    });
    expect(created.statusCode, created.body).toBe(201);
    llm.reply({ tokens: ['Capped'] });
    const response = await postChat(t.app, { message: 'Say a lot', agent: 'greedy' }, alice);
    expect(response.statusCode, response.body).toBe(200);
    expect(lastUpstream().options.num_predict).toBe(4096);
  });

  it('lets a session go on without its agent once the agent is deleted, made external, or refused with agent: null; a new agent of the same id does not take it over', async () => {
    const make = (token: string, payload: Record<string, unknown>) =>
      t.app.inject({ method: 'POST', url: '/api/v1/agents/create', headers: bearer(token), payload });
    const defaultPrompt = t.config.chat.systemPrompt;
    const systemOf = () => lastUpstream().messages.find((m) => m.role === 'system')?.content;

    // Deleted, then its id taken by another user: bob's session must not get the newcomer's prompt.
    expect(
      (await make(bob, { id: 'reused', name: 'R', type: 'a', model: 'qwen:7b', system_prompt: 'Original.' }))
        .statusCode,
    ).toBe(201);
    llm.reply({ tokens: ['1'] }, { tokens: ['2'] });
    const first = await postChat(t.app, { message: 'Hi', agent: 'reused' }, bob);
    const sessionId = first.json<{ session_id: string }>().session_id;
    expect(systemOf()).toBe('Original.');
    const deleted = await t.app.inject({
      method: 'DELETE',
      url: '/api/v1/agents/reused',
      headers: bearer(bob),
    });
    expect(deleted.statusCode).toBe(200);
    const squat = await make(alice, {
      id: 'reused',
      name: 'S',
      type: 'a',
      model: 'qwen:7b',
      system_prompt: 'SQUATTER',
      visibility: 'public',
    });
    expect(squat.statusCode).toBe(201);
    const next = await postChat(t.app, { message: 'Again', session_id: sessionId }, bob);
    expect(next.statusCode, next.body).toBe(200);
    expect(systemOf()).toBe(defaultPrompt);

    // Made external by its owner: the session goes on without it.
    expect(
      (
        await make(alice, {
          id: 'turncoat',
          name: 'T',
          type: 'a',
          model: 'qwen:7b',
          system_prompt: 'Turn.',
          visibility: 'public',
        })
      ).statusCode,
    ).toBe(201);
    llm.reply({ tokens: ['3'] }, { tokens: ['4'] }, { tokens: ['5'] }, { tokens: ['6'] });
    const third = await postChat(t.app, { message: 'Hello', agent: 'turncoat' }, bob);
    const otherSession = third.json<{ session_id: string }>().session_id;
    const changed = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/agents/turncoat',
      headers: bearer(alice),
      payload: { model: null },
    });
    expect(changed.statusCode, changed.body).toBe(200);
    const fourth = await postChat(t.app, { message: 'Still there?', session_id: otherSession }, bob);
    expect(fourth.statusCode, fourth.body).toBe(200);
    expect(systemOf()).toBe(defaultPrompt);

    // agent: null detaches the session's agent for the turn.
    const poetSession = (await postChat(t.app, { message: 'Rhyme', agent: 'poet' }, bob)).json<{
      session_id: string;
    }>().session_id;
    expect(systemOf()).toBe('You answer in rhyme <always>.');
    const plain = await postChat(t.app, { message: 'Plainly', session_id: poetSession, agent: null }, bob);
    expect(plain.statusCode, plain.body).toBe(200);
    expect(systemOf()).toBe(defaultPrompt);
  });

  it('fills /api/v1/agents/metrics and the per-agent metrics from real counters', async () => {
    const read = async () =>
      (await t.app.inject({ url: '/api/v1/agents/metrics' })).json<{
        jarvis: {
          total_requests: number;
          successful_requests: number;
          model_switches: number;
          average_latency: number;
        };
        active_models: number;
        total_models: number;
        timestamp: string;
      }>();
    const series = async (name: string) => {
      const line = (await t.app.inject({ url: '/metrics' })).body
        .split('\n')
        .find((l) => l.startsWith(`${name} `));
      return line === undefined ? 0 : Number(line.slice(name.length + 1));
    };
    const before = await read();
    const builtInTurns = await series('chat_agent_turns_total{agent="tinyllama"}');
    const customTurns = await series('chat_agent_turns_total{agent="custom"}');

    llm.reply({ tokens: ['One'] }, { tokens: ['Two'] });
    const first = await postChat(t.app, { message: 'Through the built-in one', agent: 'tinyllama' }, alice);
    expect(first.statusCode, first.body).toBe(200);
    const sessionId = first.json<{ session_id: string }>().session_id;
    // The same session, another model: a model switch.
    const switched = await postChat(
      t.app,
      { message: 'Now qwen', session_id: sessionId, model: 'qwen:7b' },
      alice,
    );
    expect(switched.statusCode, switched.body).toBe(200);

    const after = await read();
    expect(after.jarvis.total_requests - before.jarvis.total_requests).toBe(2);
    expect(after.jarvis.successful_requests - before.jarvis.successful_requests).toBe(2);
    expect(after.jarvis.model_switches - before.jarvis.model_switches).toBe(1);
    expect(after.jarvis.average_latency).toBeGreaterThan(0);
    // The registry's tinyllama and the provider's qwen:7b are served; the other seven entries are not.
    expect(after).toMatchObject({ active_models: 2, total_models: 9 });
    expect(after.timestamp).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/);
    // Both turns went through tinyllama (the second continued its session): a built-in agent's id is its label.
    expect((await series('chat_agent_turns_total{agent="tinyllama"}')) - builtInTurns).toBe(2);
    expect(await series('chat_agent_turns_total{agent="custom"}')).toBe(customTurns);
    expect(customTurns).toBeGreaterThan(0);
  });
});
