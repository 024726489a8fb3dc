// vector_db_operations_total{op,backend}, vector_db_operation_errors_total{op,backend} and
// vector_db_operation_duration_seconds{op,backend}: every call the /vectors routes and the document indexer make
// to a vector backend (the original defined the first two and never touched them).
import { Counter, Histogram, type Registry } from 'prom-client';

export type VectorOp = 'upsert' | 'search' | 'delete';
export type VectorBackendName = 'embedded' | 'qdrant' | 'chromadb';

export interface VectorMetrics {
  /** Runs `work` as one operation, counted (and its error counted) and timed. */
  observe<T>(op: VectorOp, backend: VectorBackendName, work: () => Promise<T>): Promise<T>;
}

export function createVectorMetrics(registry: Registry): VectorMetrics {
  const operations = new Counter({
    name: 'vector_db_operations_total',
    help: 'Operations asked of a vector backend (embedded, qdrant, chromadb), by operation.',
    labelNames: ['op', 'backend'],
    registers: [registry],
  });
  const errors = new Counter({
    name: 'vector_db_operation_errors_total',
    help: 'Operations of a vector backend that failed (the backend down, a dimension mismatch…), by operation.',
    labelNames: ['op', 'backend'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'vector_db_operation_duration_seconds',
    help: 'Time of one vector backend operation, by operation and backend.',
    labelNames: ['op', 'backend'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return {
    async observe(op, backend, work) {
      operations.inc({ op, backend });
      const end = duration.startTimer({ op, backend });
      try {
        return await work();
      } catch (error) {
        errors.inc({ op, backend });
        throw error;
      } finally {
        end();
      }
    },
  };
}
