// Shapes of one model's details (GET /api/v1/models/{name}) and of embeddings (POST /api/v1/models/embed). The
// catalogue's shape, ModelCatalog, lives with the original's chat shapes in chat.schemas.ts.
import { Type } from 'typebox';
import { MODEL_PATTERN } from './chat.schemas.js';

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

const Text = Type.Union([Type.String(), Type.Null()]);
const Count = Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]);
const Texts = Type.Union([Type.Array(Type.String()), Type.Null()]);

export const ModelDetailsResponse = Type.Object(
  {
    name: Type.String(),
    provider: Type.String({ description: 'ollama or openai: the protocol of the LLM server.' }),
    family: Text,
    families: Texts,
    architecture: Text,
    parameter_size: Type.Union([Type.String(), Type.Null()], {
      description: 'As the server writes it: "8.0B".',
    }),
    parameter_count: Count,
    quantization: Type.Union([Type.String(), Type.Null()], { description: 'Q4_K_M, F16…' }),
    format: Type.Union([Type.String(), Type.Null()], { description: 'gguf, safetensors…' }),
    context_length: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
      description: 'Longest context the model was trained for (the server may run it with a shorter one).',
    }),
    embedding_length: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
      description: 'Length of the vectors POST /api/v1/models/embed answers with this model.',
    }),
    capabilities: Type.Union([Type.Array(Type.String()), Type.Null()], {
      description: 'As Ollama lists them: completion, embedding, tools, vision, thinking…',
    }),
    parent_model: Text,
    owned_by: Type.Union([Type.String(), Type.Null()], {
      description: 'The owner an OpenAI-compatible server names.',
    }),
    modified_at: Type.Union([Type.String(), Type.Null()], { description: 'ISO 8601, when the server says.' }),
  },
  { description: 'Every field but name and provider is null when the LLM server does not say.' },
);

const EmbedText = Type.String({ minLength: 1, maxLength: EMBED_MAX_CHARS });

export const EmbedBody = Type.Object({
  model: Type.Optional(
    Type.Union([Type.String({ pattern: MODEL_PATTERN }), Type.Null()], {
      description: 'An embedding model; absent, null, empty or "tinyllama": DEFAULT_MODEL.',
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
    prompt_tokens: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
      description: 'Tokens the server read, when it says.',
    }),
  }),
});
