// What other modules may use of the llm module.
export { LlmService, type LlmCaller, type LlmServiceDeps, type ModelCatalog } from './llm.service.js';
export { MemoryUserSlots, RedisUserSlots, createUserSlots, type UserSlots } from './user-slots.js';
export { default as llmPlugin, type LlmPluginOptions } from './llm.plugin.js';
export { createLlmMetrics, type BreakerState, type LlmMetrics } from './llm.metrics.js';
export type {
  ChatRole,
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
export {
  LlmBusyError,
  LlmCircuitOpenError,
  LlmError,
  LlmProtocolError,
  LlmTimeoutError,
  LlmUnavailableError,
  LlmUpstreamError,
  LlmUserLimitError,
  ModelCannotEmbedError,
  ModelNotFoundError,
} from './llm.errors.js';
export { EMBED_MAX_CHARS, MODEL_PATTERN } from './models.schemas.js';
