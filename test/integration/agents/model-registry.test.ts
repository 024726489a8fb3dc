// GET /api/v1/agents/models and /model/{id}: the registry (the original's eight entries, or a JSON file over them)
// joined with the models the LLM stand-in really has; a bad registry file stops the start with its reason.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { startLlmStandIn, type LlmStandIn } from '../../helpers/llm-stand-in.js';

interface ModelView {
  name: string;
  provider: string;
  capabilities: string[];
  max_tokens: number | null;
  status: string;
  local: boolean;
}

describe('the model registry', () => {
  let llm: LlmStandIn;
  let t: TestApp;
  let withFile: TestApp;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sutazai-registry-'));

  beforeAll(async () => {
    llm = await startLlmStandIn({ models: ['tinyllama:latest', 'mistral:latest', 'phi3:mini'] });
    t = await buildTestApp({ env: { OLLAMA_URL: llm.url, LLM_RETRY_BASE_MS: '1' } });
    const file = path.join(dir, 'registry.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        phi3: {
          name: 'phi3:mini',
          provider: 'ollama',
          capabilities: ['chat', 'code'],
          max_tokens: 4096,
          cost_per_1k: 0,
          latency: 0.4,
          quality: 0.8,
          local: true,
        },
      }),
    );
    withFile = await buildTestApp({
      env: { OLLAMA_URL: llm.url, LLM_RETRY_BASE_MS: '1', AGENTS_MODEL_REGISTRY_FILE: file },
    });
  });
  afterAll(async () => {
    await t?.close();
    await withFile?.close();
    await llm?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('lists the eight defaults, available when the provider has the model, and the provider’s other models', async () => {
    const response = await t.app.inject({ url: '/api/v1/agents/models' });
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json<{ models: Record<string, ModelView>; count: number; providers: string[] }>();
    expect(Object.keys(body.models).slice(0, 8)).toEqual([
      'tinyllama',
      'mistral-7b',
      'llama2-7b',
      'llama2-13b',
      'gpt-oss-20b',
      'codestral',
      'deepseek-coder',
      'llava',
    ]);
    expect(body.models.tinyllama).toMatchObject({
      name: 'tinyllama:latest',
      status: 'available',
      max_tokens: 2048,
    });
    expect(body.models['mistral-7b']?.status).toBe('available');
    expect(body.models.codestral?.status).toBe('api_required');
    expect(body.models['phi3:mini']).toMatchObject({
      status: 'available',
      capabilities: ['chat'],
      max_tokens: null,
    });
    expect(body).toMatchObject({ count: 9, providers: ['ollama'], provider_available: true });
  });

  it('answers one model by key or by the provider’s name, and 404 for an unknown one', async () => {
    const byKey = await t.app.inject({ url: '/api/v1/agents/model/llava' });
    expect(byKey.json()).toMatchObject({ id: 'llava', name: 'llava:latest', status: 'api_required' });
    const byName = await t.app.inject({ url: '/api/v1/agents/model/phi3:mini' });
    expect(byName.json()).toMatchObject({ id: 'phi3:mini', status: 'available' });
    const unknown = await t.app.inject({ url: `/api/v1/agents/model/${encodeURIComponent('<nope>')}` });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ detail: 'Model <nope> not found', code: 'model_not_found' });
  });

  it('takes entries from AGENTS_MODEL_REGISTRY_FILE over the defaults', async () => {
    const body = (await withFile.app.inject({ url: '/api/v1/agents/models' })).json<{
      models: Record<string, ModelView>;
      count: number;
    }>();
    expect(body.models.phi3).toMatchObject({
      name: 'phi3:mini',
      capabilities: ['chat', 'code'],
      max_tokens: 4096,
      status: 'available',
    });
    expect(body.models['phi3:mini']).toBeUndefined();
    expect(body.count).toBe(9);
  });

  it('refuses to start with a registry file that is not valid, naming the problem', async () => {
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ broken: { name: 'x' } }));
    await expect(buildTestApp({ env: { AGENTS_MODEL_REGISTRY_FILE: bad } })).rejects.toThrow(
      /AGENTS_MODEL_REGISTRY_FILE: .*bad\.json/,
    );
    await expect(
      buildTestApp({ env: { AGENTS_MODEL_REGISTRY_FILE: path.join(dir, 'missing.json') } }),
    ).rejects.toThrow(/cannot read .*missing\.json as JSON/);
  });
});
