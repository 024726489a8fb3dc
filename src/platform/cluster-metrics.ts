// With WORKERS > 1 every worker keeps its own registry, and a scrape reaches whichever worker the kernel hands the
// connection to: the counters Prometheus saw would jump between workers' values. So a worker answers /metrics with
// the sum over all workers, which only the primary can collect (prom-client's AggregatorRegistry asks every worker
// over the cluster IPC channel); the worker asks the primary for it over the same channel.
import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';

const REQUEST = 'sutazai:cluster-metrics-request';
const RESPONSE = 'sutazai:cluster-metrics-response';
const TIMEOUT_MS = 10_000;

interface MetricsRequest {
  type: typeof REQUEST;
  id: number;
}
interface MetricsResponse {
  type: typeof RESPONSE;
  id: number;
  text?: string;
  error?: string;
}

const isMessage = <T extends { type: string }>(message: unknown, type: T['type']): message is T =>
  typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type;

/**
 * In a cluster worker: offers `registry` to the primary's aggregation and returns a function that fetches the
 * cluster-wide metrics text. Outside a cluster worker: undefined (the registry is the whole truth).
 */
export function clusterMetricsSource(registry: Registry): (() => Promise<string>) | undefined {
  if (!cluster.isWorker || !process.send) return undefined;
  // Constructing one installs prom-client's worker-side listener that answers the primary's collection.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);

  let nextId = 0;
  const pending = new Map<number, { resolve: (text: string) => void; reject: (error: Error) => void }>();
  process.on('message', (message: unknown) => {
    if (!isMessage<MetricsResponse>(message, RESPONSE)) return;
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.text !== undefined) waiter.resolve(message.text);
    else waiter.reject(new Error(`cluster metrics: ${message.error ?? 'no answer'}`));
  });

  return () =>
    new Promise<string>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`cluster metrics: the primary did not answer within ${TIMEOUT_MS} ms`));
      }, TIMEOUT_MS);
      pending.set(id, {
        resolve: (text) => (clearTimeout(timer), resolve(text)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      });
      process.send?.({ type: REQUEST, id } satisfies MetricsRequest);
    });
}

/** In the cluster primary: answers workers' requests with the metrics of all workers, aggregated. */
export function serveClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: unknown) => {
    if (!isMessage<MetricsRequest>(message, REQUEST)) return;
    aggregator.clusterMetrics().then(
      (text) => worker.send({ type: RESPONSE, id: message.id, text } satisfies MetricsResponse),
      (error: Error) =>
        worker.send({ type: RESPONSE, id: message.id, error: error.message } satisfies MetricsResponse),
    );
  });
}
