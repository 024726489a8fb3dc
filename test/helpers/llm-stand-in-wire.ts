// The bodies the LLM stand-in (llm-stand-in.ts) sends, field for field as Ollama's API (docs/api.md of ollama/ollama)
// and OpenAI's chat completions API write them, so that the adapters under test read what real servers send.
import { createHash, randomUUID } from 'node:crypto';

export type Protocol = 'ollama' | 'openai';
export type Json = Record<string, unknown>;

export interface Usage {
  prompt: number;
  completion: number;
}

/** How one chat answer is written: streamed pieces (token, then end) or a single JSON body (whole). */
export interface Wire {
  contentType: string;
  token(text: string, first: boolean): string;
  end(): string;
  whole(content: string): Json;
}

/** modified_at as Ollama writes it (nanoseconds, local offset); `created` of /v1/models (Unix seconds). */
const MODIFIED_AT = '2024-05-01T12:00:00.123456789+02:00';
const CREATED = Math.floor(Date.parse(MODIFIED_AT) / 1000);
const EMBEDDING_SIZE = 16;
const DETAILS = {
  parent_model: '',
  format: 'gguf',
  family: 'llama',
  families: ['llama'],
  parameter_size: '1B',
  quantization_level: 'Q4_0',
};

/** /api/chat: one JSON object per line; the last has done:true, done_reason and the counts. */
export function ollamaWire(model: string, usage: Usage): Wire {
  const line = (value: Json) => `${JSON.stringify(value)}\n`;
  const base = () => ({ model, created_at: new Date().toISOString() });
  const final = (content: string) => ({
    ...base(),
    message: { role: 'assistant', content },
    done_reason: 'stop',
    done: true,
    total_duration: 500_000_000,
    load_duration: 1_000_000,
    prompt_eval_count: usage.prompt,
    prompt_eval_duration: 100_000_000,
    eval_count: usage.completion,
    eval_duration: 399_000_000,
  });
  return {
    contentType: 'application/x-ndjson',
    token: (content) => line({ ...base(), message: { role: 'assistant', content }, done: false }),
    end: () => line(final('')),
    whole: final,
  };
}

/**
 * /v1/chat/completions: `data: <chunk>` events (the first with the assistant role), a chunk with finish_reason, a
 * usage chunk with no choices when stream_options.include_usage asked for it (the others then carry usage: null),
 * then `data: [DONE]`.
 */
export function openaiWire(body: Json, usage: Usage): Wire {
  const options = body.stream_options;
  const includeUsage = isJson(options) && options.include_usage === true;
  const base = {
    id: `chatcmpl-${randomUUID().replaceAll('-', '')}`,
    created: Math.floor(Date.now() / 1000),
    model: body.model,
    system_fingerprint: 'fp_stand_in',
  };
  const totals = {
    prompt_tokens: usage.prompt,
    completion_tokens: usage.completion,
    total_tokens: usage.prompt + usage.completion,
  };
  const event = (choices: Json[], extra: Json = includeUsage ? { usage: null } : {}) =>
    `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices, ...extra })}\n\n`;
  const choice = (delta: Json, finish: string | null) => ({
    index: 0,
    delta,
    logprobs: null,
    finish_reason: finish,
  });
  return {
    contentType: 'text/event-stream; charset=utf-8',
    token: (content, first) =>
      (first ? event([choice({ role: 'assistant', content: '' }, null)]) : '') +
      event([choice({ content }, null)]),
    end: () =>
      event([choice({}, 'stop')]) + (includeUsage ? event([], { usage: totals }) : '') + 'data: [DONE]\n\n',
    whole: (content) => ({
      ...base,
      object: 'chat.completion',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content, refusal: null },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: totals,
    }),
  };
}

/** What each server says of a model it does not have (Ollama with 404, OpenAI with 404 and code model_not_found). */
export function notFoundMessage(protocol: Protocol, model: string): string {
  return protocol === 'ollama'
    ? `model "${model}" not found, try pulling it first`
    : `The model \`${model}\` does not exist or you do not have access to it.`;
}

/** The protocol's error body: Ollama {"error": "..."}; OpenAI {"error": {message, type, param, code}}. */
export function errorBody(protocol: Protocol, status: number, message: string, code?: string): string {
  if (protocol === 'ollama') return JSON.stringify({ error: message });
  const type = status >= 500 ? 'server_error' : 'invalid_request_error';
  return JSON.stringify({ error: { message, type, param: null, code: code ?? null } });
}

/** GET /api/tags or GET /v1/models. */
export function modelListBody(protocol: Protocol, models: string[]): string {
  if (protocol === 'openai') {
    const data = models.map((id) => ({ id, object: 'model', created: CREATED, owned_by: 'library' }));
    return JSON.stringify({ object: 'list', data });
  }
  const list = models.map((name, i) => ({
    name,
    model: name,
    modified_at: MODIFIED_AT,
    size: 600_000_000 + i,
    digest: createHash('sha256').update(name).digest('hex'),
    details: DETAILS,
  }));
  return JSON.stringify({ models: list });
}

/** GET /v1/models/{id} for a model the stand-in has. */
export function modelBody(id: string): string {
  return JSON.stringify({ id, object: 'model', created: CREATED, owned_by: 'library' });
}

/** POST /api/show for a model the stand-in has. */
export function showBody(model: string): string {
  return JSON.stringify({
    license: '',
    modelfile: `# Modelfile generated by "ollama show"\nFROM ${model}\n`,
    parameters: 'stop                           "</s>"',
    template: '{{ .System }}\n{{ .Prompt }}',
    details: DETAILS,
    model_info: {
      'general.architecture': 'llama',
      'general.parameter_count': 1_100_048_384,
      'llama.context_length': 2048,
      'llama.embedding_length': EMBEDDING_SIZE,
    },
    capabilities: ['completion'],
    modified_at: MODIFIED_AT,
  });
}

/**
 * POST /api/embed: one vector per input, a unit vector derived from the text's hash (the same text always gets the
 * same vector; different texts get different ones), as the real all-minilm-like models return normalised vectors.
 */
export function embedBody(model: string, inputs: string[], embed: Embedder = embedding): string {
  return JSON.stringify({
    model,
    embeddings: inputs.map((text) => embed(text)),
    total_duration: 14_143_917,
    load_duration: 1_019_500,
    prompt_eval_count: inputs.reduce((sum, text) => sum + countWords([{ content: text }]), 0),
  });
}

/**
 * POST /v1/embeddings: data[i] = {object, index, embedding} in input order, the vectors as floats or (encoding_format
 * "base64", the openai client's default) as the base64 of their little-endian float32 bytes.
 */
export function openaiEmbedBody(
  model: string,
  inputs: string[],
  format: 'float' | 'base64',
  embed: Embedder = embedding,
): string {
  const tokens = inputs.reduce((sum, text) => sum + countWords([{ content: text }]), 0);
  const data = inputs.map((text, index) => {
    const vector = embed(text);
    const encoded =
      format === 'float' ? vector : Buffer.from(new Float32Array(vector).buffer).toString('base64');
    return { object: 'embedding', index, embedding: encoded };
  });
  return JSON.stringify({
    object: 'list',
    data,
    model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  });
}

/** How the stand-in turns a text into its vector. */
export type Embedder = (text: string) => number[];

const WORD_DIMENSIONS = 256;

/**
 * A vector in which texts that share words point the same way (each word, lower-cased, adds 1 to a dimension chosen
 * by its hash; then normalised): a stand-in with the one property retrieval needs of a real embedding model, that a
 * question is nearer to the passage that uses its words.
 */
export function wordEmbedding(text: string): number[] {
  const vector = new Array<number>(WORD_DIMENSIONS).fill(0);
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
    const slot = createHash('sha256').update(word).digest().readUInt32BE(0) % WORD_DIMENSIONS;
    vector[slot] = (vector[slot] ?? 0) + 1;
  }
  const norm = Math.hypot(...vector);
  // No word at all: a fixed direction rather than a zero vector (which has none).
  return norm === 0 ? vector.map((_, i) => (i === 0 ? 1 : 0)) : vector.map((x) => x / norm);
}

/** The vector the stand-in answers for `text` (on both protocols). */
export function embedding(text: string): number[] {
  const bytes = createHash('sha256').update(text).digest();
  const raw = Array.from({ length: EMBEDDING_SIZE }, (_, i) => (bytes[i] ?? 0) / 127.5 - 1);
  const norm = Math.hypot(...raw) || 1;
  return raw.map((x) => x / norm);
}

/** Ollama's name matching: a name without a tag means its :latest. */
export function sameModel(a: string, b: string): boolean {
  const tagged = (name: string) => (/:[^/]*$/.test(name) ? name : `${name}:latest`);
  return tagged(a) === tagged(b);
}

/** The default prompt token count: one per word of the messages' contents (at least 1). */
export function countWords(messages: unknown[]): number {
  const text = messages.map((m) => (isJson(m) && typeof m.content === 'string' ? m.content : '')).join(' ');
  return Math.max(1, text.split(/\s+/).filter(Boolean).length);
}

export function isJson(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
