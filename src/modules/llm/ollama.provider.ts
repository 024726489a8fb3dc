// The Ollama adapter: POST /api/chat streamed as NDJSON, GET /api/tags for the models, POST /api/show for one model's
// details, POST /api/embed for embeddings.
// It speaks HTTP through our own client (llm-http.ts) rather than the `ollama` npm client, because that client (0.6)
// cannot do what this adapter must: it takes no AbortSignal per call (only an abort() on its iterator, and none at all
// for list()), it turns an `{"error": ...}` line into a plain Error and drops unreadable lines with a console.warn,
// and it logs error bodies with console.log. The wire format is small and documented, so reading it here costs less
// than working around those.
import { StringDecoder } from 'node:string_decoder';
import {
  LlmProtocolError,
  LlmUpstreamError,
  ModelCannotEmbedError,
  ModelNotFoundError,
  type LlmError,
} from './llm.errors.js';
import { displayUrl, type LlmRequest, type LlmResponse } from './llm-http.js';
import type {
  EmbeddingResult,
  GenerationEvent,
  GenerationRequest,
  LlmCallOptions,
  LlmProvider,
  ModelDetails,
  ModelInfo,
} from './llm.port.js';
import { count, isRecord, isVector, nonEmpty } from './wire-values.js';

export interface OllamaProviderOptions {
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:11434. */
  baseUrl: string;
  request: LlmRequest;
  /** keep_alive sent with every chat (e.g. "5m", "-1"); unset: the server's default. */
  keepAlive?: string | undefined;
  /** num_ctx sent with every chat when > 0. */
  numCtx: number;
}

const NAME = 'ollama';

export class OllamaProvider implements LlmProvider {
  readonly name = NAME;
  readonly baseUrl: string;

  constructor(private readonly options: OllamaProviderOptions) {
    this.baseUrl = displayUrl(options.baseUrl);
  }

  async *generate(request: GenerationRequest): AsyncIterable<GenerationEvent> {
    const response = await this.options.request(
      `${this.options.baseUrl}/api/chat`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/x-ndjson' },
        body: JSON.stringify(this.chatBody(request)),
        signal: request.signal,
      },
      request.requestId,
    );
    if (!response.ok) throw await statusError(response, request.model, request.signal);

    try {
      for await (const line of ndjsonLines(response.chunks())) {
        const chunk = parseChunk(line);
        if (chunk.content) yield { type: 'token', text: chunk.content };
        if (chunk.done) {
          response.complete();
          yield {
            type: 'done',
            model: chunk.model ?? request.model,
            usage: { promptTokens: chunk.promptTokens, completionTokens: chunk.completionTokens },
          };
          return;
        }
      }
    } finally {
      // Leaving early (done, an error, or the consumer stopped) must not leave the upstream answer running.
      response.cancel();
    }
    throw new LlmProtocolError(NAME, 'the stream ended before its final message');
  }

  async listModels(options: LlmCallOptions = {}): Promise<ModelInfo[]> {
    const response = await this.options.request(
      `${this.options.baseUrl}/api/tags`,
      { method: 'GET', headers: { accept: 'application/json' }, signal: options.signal },
      options.requestId,
    );
    if (!response.ok) {
      response.cancel();
      throw new LlmUpstreamError(response.status, NAME);
    }
    const body = await readJson(response);
    const models = isRecord(body) ? body.models : undefined;
    if (!Array.isArray(models)) throw new LlmProtocolError(NAME, 'no models list');
    return models.map((entry: unknown): ModelInfo => {
      if (!isRecord(entry) || typeof entry.name !== 'string')
        throw new LlmProtocolError(NAME, 'a model without a name');
      return {
        name: entry.name,
        size: typeof entry.size === 'number' ? entry.size : null,
        modifiedAt: typeof entry.modified_at === 'string' ? isoTime(entry.modified_at) : null,
      };
    });
  }

  async showModel(name: string, options: LlmCallOptions = {}): Promise<ModelDetails> {
    const response = await this.postJson('/api/show', { model: name }, options);
    if (!response.ok) throw await statusError(response, name, options.signal);
    const body = await readJson(response);
    if (!isRecord(body)) throw new LlmProtocolError(NAME, 'model details that are not an object');
    return modelDetails(name, body);
  }

  async embed(model: string, inputs: string[], options: LlmCallOptions = {}): Promise<EmbeddingResult> {
    // Neither keep_alive nor num_ctx goes along: they are set for the chat model, and an embedding model is usually
    // another one (kept loaded for the server's default time, with its own context length).
    const response = await this.postJson('/api/embed', { model, input: inputs }, options);
    if (!response.ok) throw await statusError(response, model, options.signal);
    const body = await readJson(response);
    const embeddings = isRecord(body) ? body.embeddings : undefined;
    if (!Array.isArray(embeddings) || embeddings.length !== inputs.length) {
      throw new LlmProtocolError(NAME, 'not one embedding per input');
    }
    if (!embeddings.every(isVector))
      throw new LlmProtocolError(NAME, 'an embedding that is not a list of numbers');
    return {
      model: (isRecord(body) ? nonEmpty(body.model) : null) ?? model,
      embeddings,
      promptTokens: isRecord(body) ? count(body.prompt_eval_count) : null,
    };
  }

  private postJson(
    path: string,
    body: Record<string, unknown>,
    options: LlmCallOptions,
  ): Promise<LlmResponse> {
    return this.options.request(
      `${this.options.baseUrl}${path}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
        signal: options.signal,
      },
      options.requestId,
    );
  }

  private chatBody(request: GenerationRequest): Record<string, unknown> {
    // Only what was asked is sent: an absent option means "the model's default", while 0 is a real temperature.
    const options: Record<string, number> = {};
    if (request.temperature !== undefined) options.temperature = request.temperature;
    if (request.maxTokens !== undefined) options.num_predict = request.maxTokens;
    if (this.options.numCtx > 0) options.num_ctx = this.options.numCtx;
    return {
      model: request.model,
      messages: request.messages.map(({ role, content }) => ({ role, content })),
      stream: true,
      options,
      ...(this.options.keepAlive ? { keep_alive: this.options.keepAlive } : {}),
    };
  }
}

interface ChatChunk {
  content: string;
  done: boolean;
  model: string | undefined;
  promptTokens: number | null;
  completionTokens: number | null;
}

/** One NDJSON line of /api/chat: a piece of the answer, or the final line with the counts. */
function parseChunk(line: string): ChatChunk {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new LlmProtocolError(NAME, 'a line that is not JSON');
  }
  if (!isRecord(value)) throw new LlmProtocolError(NAME, 'a line that is not an object');
  // Ollama reports a failure after the 200 (the runner crashed, ran out of memory) as an {"error": "..."} line. Its
  // text is not echoed: it may hold anything.
  if (value.error !== undefined) throw new LlmProtocolError(NAME, 'the stream reported an error');
  const message = value.message;
  const content = isRecord(message) && typeof message.content === 'string' ? message.content : '';
  return {
    content,
    done: value.done === true,
    model: typeof value.model === 'string' ? value.model : undefined,
    promptTokens: typeof value.prompt_eval_count === 'number' ? value.prompt_eval_count : null,
    completionTokens: typeof value.eval_count === 'number' ? value.eval_count : null,
  };
}

/** The non-empty lines of an NDJSON body, as they arrive. */
async function* ndjsonLines(chunks: AsyncIterable<Buffer>): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let buffer = '';
  for await (const chunk of chunks) {
    buffer += decoder.write(chunk);
    let start = 0;
    let newline = buffer.indexOf('\n');
    while (newline >= 0) {
      const line = buffer.slice(start, newline).trim();
      if (line) yield line;
      start = newline + 1;
      newline = buffer.indexOf('\n', start);
    }
    buffer = buffer.slice(start);
  }
  buffer = (buffer + decoder.end()).trim();
  if (buffer) yield buffer;
}

/**
 * A non-2xx answer to a call about `model` (/api/chat, /api/show, /api/embed): the model is unknown (404, or an error
 * naming it "not found"), or another failure.
 */
async function statusError(
  response: LlmResponse,
  model: string,
  signal: AbortSignal | undefined,
): Promise<LlmError> {
  const text = await response.text().catch(() => '');
  // The caller who left while we read the error body wants their abort, not the error.
  signal?.throwIfAborted();
  if (response.status === 404 || /model\b.*\bnot found/i.test(errorText(text))) {
    return new ModelNotFoundError(model);
  }
  if (response.status === 400 && /does not support embeddings/i.test(errorText(text))) {
    return new ModelCannotEmbedError(model);
  }
  return new LlmUpstreamError(response.status, NAME);
}

/**
 * /api/show's answer: `details` (family, sizes, quantization), `model_info` (the GGUF metadata, whose keys are
 * prefixed with the architecture: "llama.context_length") and `capabilities`. The modelfile, template and license are
 * left out: long texts, and the modelfile names paths on the server's disk.
 */
function modelDetails(name: string, body: Record<string, unknown>): ModelDetails {
  const details = isRecord(body.details) ? body.details : {};
  const info = isRecord(body.model_info) ? body.model_info : {};
  const architecture = nonEmpty(info['general.architecture']);
  const infoCount = (key: string): number | null => {
    const exact = architecture === null ? null : count(info[`${architecture}.${key}`]);
    if (exact !== null) return exact;
    const suffix = `.${key}`;
    const other = Object.keys(info).find((k) => k.endsWith(suffix) && count(info[k]) !== null);
    return other === undefined ? null : count(info[other]);
  };
  return {
    name,
    family: nonEmpty(details.family),
    families: strings(details.families),
    architecture,
    parameterSize: nonEmpty(details.parameter_size),
    parameterCount: count(info['general.parameter_count']),
    quantization: nonEmpty(details.quantization_level),
    format: nonEmpty(details.format),
    contextLength: infoCount('context_length'),
    embeddingLength: infoCount('embedding_length'),
    capabilities: strings(body.capabilities),
    parentModel: nonEmpty(details.parent_model),
    ownedBy: null,
    modifiedAt: typeof body.modified_at === 'string' ? isoTime(body.modified_at) : null,
  };
}

function strings(value: unknown): string[] | null {
  return Array.isArray(value) && value.every((item) => typeof item === 'string') ? value : null;
}

function errorText(body: string): string {
  try {
    const value: unknown = JSON.parse(body);
    return isRecord(value) && typeof value.error === 'string' ? value.error : '';
  } catch {
    return '';
  }
}

async function readJson(response: LlmResponse): Promise<unknown> {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new LlmProtocolError(NAME, 'an answer that is not JSON');
  }
}

/** Ollama writes RFC 3339 times with nanoseconds and an offset; we answer in ISO 8601 UTC (the raw text if odd). */
function isoTime(value: string): string {
  const time = Date.parse(value);
  return Number.isNaN(time) ? value : new Date(time).toISOString();
}
