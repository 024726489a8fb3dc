// GET /api/v1/agents/metrics: the original JARVIS metrics' shape, filled from this instance's real counters (the
// Prometheus registry the server exports): the original's names, mapped to what this server measures.
//   total_requests / successful_requests / failed_requests: llm_requests_total (all outcomes / success / error)
//   average_latency: llm_request_duration_seconds, sum / count, in seconds (0 before any generation)
//   resource_violations: generations refused by the concurrency limits (llm_errors_total kinds busy, user_limit)
//   emergency_shutdowns: the circuit breaker opening (circuit_breaker_transitions_total{to="open"})
//   model_switches: chat turns that used another model than their session's (chat_model_switches_total)
//   thermal_throttles: LLM calls slowed down by a retry after a failure (llm_retries_total)
import type { Registry } from 'prom-client';

interface Sample {
  labels: Record<string, string | number | undefined>;
  value: number;
  metricName?: string;
}

/** Samples of one metric of `registry` (none when it is not registered). */
async function samples(registry: Registry, name: string): Promise<Sample[]> {
  const metric = registry.getSingleMetric(name);
  return metric ? (await metric.get()).values : [];
}

function sum(list: Sample[], keep: (sample: Sample) => boolean = () => true): number {
  return list.filter(keep).reduce((total, sample) => total + sample.value, 0);
}

/** Python's str(datetime): "2025-11-17 12:00:00.123456" (here in UTC, to the millisecond). */
export function pythonTimestamp(at: Date): string {
  return `${at.toISOString().replace('T', ' ').replace('Z', '')}000`;
}

export interface AgentMetrics {
  jarvis: {
    total_requests: number;
    successful_requests: number;
    failed_requests: number;
    average_latency: number;
    resource_violations: number;
    emergency_shutdowns: number;
    model_switches: number;
    thermal_throttles: number;
  };
  active_models: number;
  total_models: number;
  timestamp: string;
}

export async function agentMetrics(
  registry: Registry,
  models: { active: number; total: number },
  now: Date,
): Promise<AgentMetrics> {
  const requests = await samples(registry, 'llm_requests_total');
  const durations = await samples(registry, 'llm_request_duration_seconds');
  const durationSum = sum(durations, (s) => s.metricName === 'llm_request_duration_seconds_sum');
  const durationCount = sum(durations, (s) => s.metricName === 'llm_request_duration_seconds_count');
  const errors = await samples(registry, 'llm_errors_total');
  const transitions = await samples(registry, 'circuit_breaker_transitions_total');
  return {
    jarvis: {
      total_requests: sum(requests),
      successful_requests: sum(requests, (s) => s.labels.outcome === 'success'),
      failed_requests: sum(requests, (s) => s.labels.outcome === 'error'),
      average_latency: durationCount === 0 ? 0 : durationSum / durationCount,
      resource_violations: sum(errors, (s) => s.labels.kind === 'busy' || s.labels.kind === 'user_limit'),
      emergency_shutdowns: sum(transitions, (s) => s.labels.to === 'open'),
      model_switches: sum(await samples(registry, 'chat_model_switches_total')),
      thermal_throttles: sum(await samples(registry, 'llm_retries_total')),
    },
    active_models: models.active,
    total_models: models.total,
    timestamp: pythonTimestamp(now),
  };
}
