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

/**
 * What the server says of one model. Every field but the name may be unknown (null): Ollama's /api/show tells most of
 * them, an OpenAI-compatible server little beyond the owner and the creation time.
 */
export interface ModelDetails {
  name: string;
  /** "llama", "qwen2", "nomic-bert"… */
  family: string | null;
  families: string[] | null;
  /** The architecture the weights are for (GGUF general.architecture). */
  architecture: string | null;
  /** As the server writes it: "8.0B", "137M". */
  parameterSize: string | null;
  parameterCount: number | null;
  /** "Q4_K_M", "F16"… */
  quantization: string | null;
  /** "gguf", "safetensors"… */
  format: string | null;
  /** Longest context the model was trained for (the server may run it with a shorter one: Ollama's num_ctx). */
  contextLength: number | null;
  /** Length of the model's embedding vectors. */
  embeddingLength: number | null;
  /** What the model can do, as Ollama lists it: "completion", "embedding", "tools", "vision", "thinking"… */
  capabilities: string[] | null;
  /** The model this one was derived from, when the server says. */
  parentModel: string | null;
  /** The owner an OpenAI-compatible server names. */
  ownedBy: string | null;
  /** ISO time of the last change (OpenAI-compatible: of the creation), when the server says. */
  modifiedAt: string | null;
}

export interface EmbeddingResult {
  /** The model that answered, as the server names it. */
  model: string;
  /** One vector per input, in the order of the inputs. */
  embeddings: number[][];
  /** Tokens the server read, when it says. */
  promptTokens: number | null;
}

export interface LlmCallOptions {
  /** Aborted when the client leaves or the server stops: the upstream request is cancelled. */
  signal?: AbortSignal;
  /** Sent upstream as X-Request-ID. */
  requestId?: string;
}

export interface LlmProvider {
  /** 'ollama' | 'openai': the breaker and metrics label. */
  readonly name: string;
  /** Where it talks to (for health answers; never holds a key). */
  readonly baseUrl: string;
  /** Streams one generation. Errors are LlmError subclasses (see llm.errors.ts). */
  generate(request: GenerationRequest): AsyncIterable<GenerationEvent>;
  listModels(options?: LlmCallOptions): Promise<ModelInfo[]>;
  /** One model's details; ModelNotFoundError when the server has no such model. */
  showModel(name: string, options?: LlmCallOptions): Promise<ModelDetails>;
  /** One embedding vector per input (inputs: at least one); ModelNotFoundError for an unknown model. */
  embed(model: string, inputs: string[], options?: LlmCallOptions): Promise<EmbeddingResult>;
}
