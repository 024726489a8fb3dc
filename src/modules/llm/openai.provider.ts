// The OpenAI-compatible adapter (vLLM, LM Studio, llama.cpp server, OpenAI): POST /v1/chat/completions streamed as
// server-sent events, GET /v1/models, GET /v1/models/{id} for one model, POST /v1/embeddings. It drives the `openai`
// client over our own fetch, so connections, timeouts and error mapping are the same as for Ollama; the client's own
// retries are off (retries belong to the resilience layer) and its own timeout is set just past ours so that ours
// always speaks first.
import OpenAI, { APIConnectionError, APIError } from 'openai';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { Model } from 'openai/resources/models';
import {
  LlmError,
  LlmProtocolError,
  LlmUnavailableError,
  LlmUpstreamError,
  ModelNotFoundError,
} from './llm.errors.js';
import { displayUrl, type LlmFetch } from './llm-http.js';
import type {
  ChatTurn,
  EmbeddingResult,
  GenerationEvent,
  GenerationRequest,
  LlmCallOptions,
  LlmProvider,
  ModelDetails,
  ModelInfo,
  TokenUsage,
} from './llm.port.js';
import { count, isRecord, isVector, nonEmpty } from './wire-values.js';

export interface OpenAiProviderOptions {
  /** Base URL with its /v1, without a trailing slash. */
  baseUrl: string;
  /** Sent as a bearer token; unset for local servers that want none. */
  apiKey?: string | undefined;
  fetch: LlmFetch;
  /** LLM_TOTAL_TIMEOUT_MS: the client's own timeout is set just past it. */
  totalTimeoutMs: number;
}

const NAME = 'openai';
// The client refuses to start without a key; local servers accept any.
const NO_KEY = 'sk-no-key-required';
// setTimeout fires at once beyond this.
const MAX_TIMER_MS = 2 ** 31 - 1;
// The client refuses ids with a "." or ".." path segment (as a path traversal): only the model list can find those.
const DOT_SEGMENT = /(?:^|\/)\.{1,2}(?:\/|$)/;

/** What one call's fetch saw fail, as our error: the client rewraps fetch failures and may drop their cause. */
interface CallContext {
  failure?: unknown;
}

export class OpenAiProvider implements LlmProvider {
  readonly name = NAME;
  readonly baseUrl: string;

  constructor(private readonly options: OpenAiProviderOptions) {
    this.baseUrl = displayUrl(options.baseUrl);
  }

  async *generate(request: GenerationRequest): AsyncIterable<GenerationEvent> {
    const context: CallContext = {};
    const client = this.client(context, request.requestId);
    let usage: TokenUsage = { promptTokens: null, completionTokens: null };
    let model = request.model;
    let finished = false;
    try {
      const stream = await client.chat.completions.create(
        {
          model: request.model,
          messages: request.messages.map(toMessage),
          stream: true,
          stream_options: { include_usage: true },
          // 0 is a real temperature: only undefined is left out.
          ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
          ...(request.maxTokens !== undefined ? { max_tokens: request.maxTokens } : {}),
        },
        { signal: request.signal ?? null },
      );
      for await (const chunk of stream) {
        model = chunk.model || model;
        for (const choice of chunk.choices ?? []) {
          const text = choice.delta?.content;
          if (text) yield { type: 'token', text };
          if (choice.finish_reason) finished = true;
        }
        if (chunk.usage) {
          finished = true;
          usage = {
            promptTokens: chunk.usage.prompt_tokens,
            completionTokens: chunk.usage.completion_tokens,
          };
        }
      }
    } catch (error) {
      throw toLlmError(error, context, request.signal, request.model);
    }
    // The client ends a stream quietly when it is aborted: the caller's abort must still reject.
    request.signal?.throwIfAborted();
    if (!finished) throw new LlmProtocolError(NAME, 'the stream ended before the answer was complete');
    yield { type: 'done', usage, model };
  }

  async listModels(options: LlmCallOptions = {}): Promise<ModelInfo[]> {
    const context: CallContext = {};
    const client = this.client(context, options.requestId);
    try {
      const page = await client.models.list({ signal: options.signal ?? null });
      return page.data.map((model) => ({
        name: model.id,
        size: null,
        modifiedAt:
          typeof model.created === 'number' && model.created > 0
            ? new Date(model.created * 1000).toISOString()
            : null,
      }));
    } catch (error) {
      throw toLlmError(error, context, options.signal, undefined);
    }
  }

  /**
   * GET /v1/models/{id}, and the model list when that path answers 404 or 405: vLLM and llama.cpp's server list their
   * models but have no such path (an unknown model then costs one more call, on servers that have it).
   */
  async showModel(name: string, options: LlmCallOptions = {}): Promise<ModelDetails> {
    const context: CallContext = {};
    const client = this.client(context, options.requestId);
    const signal = options.signal ?? null;
    if (!DOT_SEGMENT.test(name)) {
      try {
        return modelDetails(await client.models.retrieve(name, { signal }));
      } catch (error) {
        const noSuchPath = error instanceof APIError && (error.status === 404 || error.status === 405);
        if (!noSuchPath || options.signal?.aborted) throw toLlmError(error, context, options.signal, name);
      }
    }
    let models: Model[];
    try {
      models = (await client.models.list({ signal })).data;
    } catch (error) {
      throw toLlmError(error, context, options.signal, undefined);
    }
    const found = models.find((model) => model.id === name);
    if (!found) throw new ModelNotFoundError(name);
    return modelDetails(found);
  }

  async embed(model: string, inputs: string[], options: LlmCallOptions = {}): Promise<EmbeddingResult> {
    const context: CallContext = {};
    const client = this.client(context, options.requestId);
    let answer: unknown;
    try {
      // Floats asked for explicitly: the client otherwise asks for base64 and decodes it, which servers that ignore
      // encoding_format (and answer floats) would break.
      answer = await client.embeddings.create(
        { model, input: inputs, encoding_format: 'float' },
        { signal: options.signal ?? null },
      );
    } catch (error) {
      throw toLlmError(error, context, options.signal, model);
    }
    return embeddingResult(answer, model, inputs.length);
  }

  /**
   * A client for one call (cheap: some microseconds), so that its fetch can keep what failed and carry the request
   * id. Nothing is read from the environment: organization and project are pinned to none.
   */
  private client(context: CallContext, requestId: string | undefined): OpenAI {
    return new OpenAI({
      baseURL: this.options.baseUrl,
      apiKey: this.options.apiKey || NO_KEY,
      organization: null,
      project: null,
      maxRetries: 0,
      timeout: Math.min(this.options.totalTimeoutMs + 1000, MAX_TIMER_MS),
      logLevel: 'off',
      fetch: async (input, init) => {
        const url = typeof input === 'string' || input instanceof URL ? input : input.url;
        try {
          return await this.options.fetch(
            url,
            {
              method: init?.method ?? 'GET',
              headers: new Headers(init?.headers),
              body: typeof init?.body === 'string' ? init.body : null,
              signal: init?.signal ?? null,
            },
            requestId,
          );
        } catch (error) {
          context.failure = error;
          throw error;
        }
      },
    });
  }
}

function toMessage(turn: ChatTurn): ChatCompletionMessageParam {
  switch (turn.role) {
    case 'system':
      return { role: 'system', content: turn.content };
    case 'user':
      return { role: 'user', content: turn.content };
    case 'assistant':
      return { role: 'assistant', content: turn.content };
  }
}

/**
 * A model as /v1/models answers it: id, created, owned_by, and on some servers its context length (vLLM:
 * max_model_len; others: context_length or context_window). Everything else is unknown.
 */
function modelDetails(model: Model): ModelDetails {
  const fields: unknown = model;
  if (!isRecord(fields) || typeof fields.id !== 'string' || fields.id === '') {
    throw new LlmProtocolError(NAME, 'a model without an id');
  }
  const created = fields.created;
  return {
    name: fields.id,
    family: null,
    families: null,
    architecture: null,
    parameterSize: null,
    parameterCount: null,
    quantization: null,
    format: null,
    contextLength:
      count(fields.max_model_len) ?? count(fields.context_length) ?? count(fields.context_window),
    embeddingLength: null,
    capabilities: null,
    parentModel: null,
    ownedBy: nonEmpty(fields.owned_by),
    modifiedAt: typeof created === 'number' && created > 0 ? new Date(created * 1000).toISOString() : null,
  };
}

/** data[i].embedding in the order of data[i].index (the position when a server leaves it out), and the usage. */
function embeddingResult(answer: unknown, model: string, inputs: number): EmbeddingResult {
  const data = isRecord(answer) ? answer.data : undefined;
  if (!isRecord(answer) || !Array.isArray(data) || data.length !== inputs) {
    throw new LlmProtocolError(NAME, 'not one embedding per input');
  }
  const embeddings: number[][] = new Array<number[]>(inputs);
  data.forEach((entry: unknown, position) => {
    const index = isRecord(entry) ? (entry.index ?? position) : undefined;
    const vector = isRecord(entry) ? entry.embedding : undefined;
    if (
      typeof index !== 'number' ||
      !Number.isInteger(index) ||
      index < 0 ||
      index >= inputs ||
      embeddings[index]
    ) {
      throw new LlmProtocolError(NAME, 'embeddings whose indexes do not match the inputs');
    }
    if (!isVector(vector)) throw new LlmProtocolError(NAME, 'an embedding that is not a list of numbers');
    embeddings[index] = vector;
  });
  const usage = answer.usage;
  return {
    model: nonEmpty(answer.model) ?? model,
    embeddings,
    promptTokens: isRecord(usage) ? count(usage.prompt_tokens) : null,
  };
}

/**
 * Our error for whatever the client threw; `model` is set for calls about one model (a 404 then means an unknown
 * model).
 */
function toLlmError(
  error: unknown,
  context: CallContext,
  signal: AbortSignal | undefined,
  model: string | undefined,
): unknown {
  if (signal?.aborted) return signal.reason as unknown;
  if (error instanceof LlmError) return error;
  if (error instanceof APIConnectionError) {
    // The fetch failed: it already made our error (a timeout's cause is dropped by the client, so it is kept aside).
    return context.failure instanceof LlmError ? context.failure : new LlmUnavailableError(NAME, error);
  }
  if (error instanceof APIError) {
    if (model !== undefined && (error.status === 404 || error.code === 'model_not_found')) {
      return new ModelNotFoundError(model);
    }
    if (typeof error.status === 'number') return new LlmUpstreamError(error.status, NAME);
    // An error event inside a 200 stream. Its text is not echoed: it may hold anything.
    return new LlmProtocolError(NAME, 'the stream reported an error');
  }
  if (error instanceof SyntaxError) return new LlmProtocolError(NAME, 'an event that is not JSON');
  return new LlmProtocolError(NAME, 'an answer the client could not read');
}
