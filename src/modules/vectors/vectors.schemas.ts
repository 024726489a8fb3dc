// Shapes of /api/v1/vectors: the original's VectorData and VectorSearchRequest (reference §6.3), and the text forms.
import { Type } from 'typebox';
import { EMBED_MAX_CHARS, MODEL_PATTERN } from '../llm/index.js';

export const MAX_DIMENSION = 4096;

const VectorId = Type.String({
  minLength: 1,
  maxLength: 256,
  description: 'Your id of the point: storing it again replaces the point.',
});
const Vector = Type.Array(Type.Number(), { minItems: 1, maxItems: MAX_DIMENSION });
const Metadata = Type.Record(Type.String({ maxLength: 256 }), Type.Unknown(), {
  maxProperties: 64,
  description: 'Any JSON object, returned exactly with the point.',
});
// Keys are checked by the service (vectors.service.ts): Fastify's Ajv removes properties a schema does not allow
// instead of refusing them, and a filter that silently lost a key would match too much.
const Filter = Type.Record(Type.String(), Type.Unknown(), {
  maxProperties: 16,
  description: 'Exact match on each metadata key (all must match); keys of letters, digits, _ and -.',
});
const K = Type.Integer({ minimum: 1, maximum: 100, default: 5 });
const Model = Type.Union([Type.String({ pattern: MODEL_PATTERN }), Type.Null()], {
  description: 'An embedding model; absent, null or empty: EMBEDDING_MODEL (DEFAULT_MODEL when unset).',
});
const Text = Type.String({ minLength: 1, maxLength: EMBED_MAX_CHARS });

export const DatabaseQuery = Type.Object({
  database: Type.Optional(
    Type.String({
      maxLength: 64,
      description:
        'embedded (faiss is the same index), qdrant or chromadb; default VECTORS_DEFAULT_DATABASE.',
    }),
  ),
});

export const VectorIdParams = Type.Object({ vector_id: VectorId });

export const StoreBody = Type.Object({
  id: VectorId,
  vector: Vector,
  metadata: Type.Optional(Metadata),
});

export const SearchBody = Type.Object({
  query: Vector,
  k: Type.Optional(K),
  filter: Type.Optional(Type.Union([Filter, Type.Null()])),
});

export const EmbedAndStoreBody = Type.Object({
  id: VectorId,
  text: Text,
  metadata: Type.Optional(Metadata),
  model: Type.Optional(Model),
});

export const SearchTextBody = Type.Object({
  query: Text,
  k: Type.Optional(K),
  filter: Type.Optional(Type.Union([Filter, Type.Null()])),
  model: Type.Optional(Model),
});

export const StoreResponse = Type.Object({
  status: Type.Literal('success'),
  database: Type.String(),
  collection: Type.String(),
  vector_id: Type.String(),
  dimension: Type.Integer(),
});

export const EmbedAndStoreResponse = Type.Object({
  ...StoreResponse.properties,
  model: Type.String({ description: 'The model that embedded the text.' }),
});

export const SearchResults = Type.Array(
  Type.Object({
    id: Type.String(),
    score: Type.Number({ description: 'Cosine similarity (1: same direction), on every backend.' }),
    metadata: Type.Record(Type.String(), Type.Unknown()),
  }),
);

export const DeleteResponse = Type.Object({
  status: Type.Literal('success'),
  database: Type.String(),
  deleted_id: Type.String(),
});
