// Shapes of the model routes: the original's catalogue and chat model list and health (reference §4.2, §6.1), one
// model's details (GET /api/v1/models/{name}) and embeddings (POST /api/v1/models/embed).
import { Type, type TSchema } from 'typebox';

/**
 * Model names as Ollama and OpenAI-compatible servers spell them (llama3.1:8b, hf.co/org/repo:Q4_K_M, org/model);
 * empty means the default. Nothing that could carry markup into an error message.
 */
export const MODEL_PATTERN = '^[A-Za-z0-9._:/@+-]{0,255}$';

/** Most texts in one embeddings request. */
export const EMBED_MAX_INPUTS = 256;
/**
 * Longest text to embed, in characters: above a usual RAG chunk, and around the 2048-8192 tokens embedding models
 * read (Ollama cuts longer texts at the model's context). The whole body is also bound by BODY_LIMIT_BYTES (413).
 */
export const EMBED_MAX_CHARS = 8192;

export const ModelNameParams = Type.Object({
  '*': Type.String({
    minLength: 1,
    pattern: MODEL_PATTERN,
    description:
      'A model name as the server spells it (llama3.1:8b, library/llama3:8b, hf.co/org/repo:Q4_K_M); its slashes ' +
      'may be sent as they are or as %2F.',
  }),
});

/** A value the LLM server may not give: null then. */
const orNull = (schema: TSchema, description?: string) =>
  Type.Union([schema, Type.Null()], description === undefined ? {} : { description });
const Count = Type.Integer({ minimum: 0 });
const Names = Type.Array(Type.String());

export const ModelDetailsResponse = Type.Object(
  {
    name: Type.String(),
    provider: Type.String({ description: 'ollama or openai: the protocol of the LLM server.' }),
    family: orNull(Type.String()),
    families: orNull(Names),
    architecture: orNull(Type.String()),
    parameter_size: orNull(Type.String(), 'As the server writes it: "8.0B".'),
    parameter_count: orNull(Count),
    quantization: orNull(Type.String(), 'Q4_K_M, F16…'),
    format: orNull(Type.String(), 'gguf, safetensors…'),
    context_length: orNull(
      Count,
      'Longest context the model was trained for (the server may run it with a shorter one).',
    ),
    embedding_length: orNull(
      Count,
      'Length of the vectors POST /api/v1/models/embed answers with this model.',
    ),
    capabilities: orNull(Names, 'As Ollama lists them: completion, embedding, tools, vision, thinking…'),
    parent_model: orNull(Type.String()),
    owned_by: orNull(Type.String(), 'The owner an OpenAI-compatible server names.'),
    modified_at: orNull(Type.String(), 'ISO 8601, when the server says.'),
  },
  { description: 'Every field but name and provider is null when the LLM server does not say.' },
);

const EmbedText = Type.String({ minLength: 1, maxLength: EMBED_MAX_CHARS });

export const EmbedBody = Type.Object({
  model: Type.Optional(
    Type.Union([Type.String({ pattern: MODEL_PATTERN }), Type.Null()], {
      description: 'An embedding model; absent, null or empty: EMBEDDING_MODEL (DEFAULT_MODEL when unset).',
    }),
  ),
  input: Type.Union([EmbedText, Type.Array(EmbedText, { minItems: 1, maxItems: EMBED_MAX_INPUTS })], {
    description:
      `One text, or a list of 1 to ${EMBED_MAX_INPUTS} texts; each 1 to ${EMBED_MAX_CHARS} characters. ` +
      'The whole body is also bound by BODY_LIMIT_BYTES (413 beyond).',
  }),
});

export const EmbedResponse = Type.Object({
  model: Type.String({ description: 'The model that answered, as the LLM server names it.' }),
  embeddings: Type.Array(Type.Array(Type.Number()), { description: 'One vector per input, in input order.' }),
  usage: Type.Object({
    prompt_tokens: orNull(Count, 'Tokens the server read, when it says.'),
  }),
});

export const ChatModels = Type.Object({
  models: Type.Array(
    Type.Object({
      name: Type.String(),
      size: Type.Union([Type.Integer(), Type.Null()]),
      modified: Type.Union([Type.String(), Type.Null()]),
    }),
  ),
  count: Type.Integer(),
  ollama_url: Type.String(),
  provider: Type.String(),
  available: Type.Boolean(),
  error: Type.Optional(Type.String()),
});

export const ChatHealth = Type.Object({
  status: Type.Union([Type.Literal('healthy'), Type.Literal('unhealthy')]),
  ollama_url: Type.String(),
  provider: Type.String(),
  model_count: Type.Optional(Type.Integer()),
  circuit_breaker: Type.String(),
  error: Type.Optional(Type.String()),
  timestamp: Type.String(),
});

export const ModelCatalog = Type.Object({
  models: Type.Array(Type.String()),
  available_detailed: Type.Array(
    Type.Object({
      name: Type.String(),
      provider: Type.String(),
      size: Type.Union([Type.Integer(), Type.Null()]),
      available: Type.Boolean(),
    }),
  ),
  count: Type.Integer(),
  available: Type.Boolean(),
  error: Type.Optional(Type.String()),
  note: Type.String(),
});
