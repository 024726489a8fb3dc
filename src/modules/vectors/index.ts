// What other modules may use of the vectors module.
export { default as vectorsPlugin, type VectorsPluginOptions } from './vectors.plugin.js';
export type { VectorIndex, VectorMatch, VectorPoint } from './vector-index.port.js';
export type { VectorBackends, ResolvedBackend } from './vector-backends.js';
export type { VectorMetrics, VectorBackendName } from './vectors.metrics.js';
export { storableVectorProblem } from './vector-values.js';
export { DimensionMismatchError, VectorBackendUnavailableError } from './vector.errors.js';
