// The outside world of chat: a language-model server. One adapter per protocol (Ollama, OpenAI-compatible), chosen
// once from config; the resilient wrapper (breaker, retries, bulkheads) implements the same port around one.

export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatTurn {
  role: ChatRole;
  content: string;
}

export interface GenerationRequest {
  /** A model name as the provider knows it (already normalised: never empty). */
  model: string;
  messages: ChatTurn[];
  /** 0 is a real temperature (the original turned it into 0.7). Undefined: the model's default. */
  temperature?: number;
  /** Most tokens to generate (Ollama: num_predict). Undefined: the provider's default. */
  maxTokens?: number;
  /** Aborted when the client leaves or the server stops: the upstream request is cancelled. */
  signal?: AbortSignal;
  /** Sent upstream as X-Request-ID. */
  requestId?: string;
}

export interface TokenUsage {
  promptTokens: number | null;
  completionTokens: number | null;
}

/** A streamed answer: text pieces, then one final event with the usage the server reported. */
export type GenerationEvent =
  { type: 'token'; text: string } | { type: 'done'; usage: TokenUsage; model: string };

export interface ModelInfo {
  name: string;
  /** Bytes on disk when the provider says (Ollama), else null. */
  size: number | null;
  /** ISO time of the last change when the provider says, else null. */
  modifiedAt: string | null;
}

export interface LlmProvider {
  /** 'ollama' | 'openai': the breaker and metrics label. */
  readonly name: string;
  /** Where it talks to (for health answers; never holds a key). */
  readonly baseUrl: string;
  /** Streams one generation. Errors are LlmError subclasses (see llm.errors.ts). */
  generate(request: GenerationRequest): AsyncIterable<GenerationEvent>;
  listModels(options?: { signal?: AbortSignal; requestId?: string }): Promise<ModelInfo[]>;
}
