// Shapes of the health routes: the original's (reference §5.1), each with a `details` entry per service beside its
// booleans, and the readiness answer.
import { Type } from 'typebox';
import { SERVICE_NAMES, type ServiceName } from './service-probe.js';

const Status = Type.Union([Type.Literal('healthy'), Type.Literal('degraded')], {
  description: 'healthy when every enabled service is; disabled services do not count.',
});

export const ServiceDetail = Type.Object({
  status: Type.Union([Type.Literal('healthy'), Type.Literal('unhealthy'), Type.Literal('disabled')]),
  latency_ms: Type.Union([Type.Number(), Type.Null()]),
  reason: Type.Optional(Type.String({ description: 'Why it is unhealthy, in a few words.' })),
});

const perService = <T extends Parameters<typeof Type.Object>[0][string]>(schema: T) =>
  Type.Object(Object.fromEntries(SERVICE_NAMES.map((name) => [name, schema])) as Record<ServiceName, T>);

const ServiceBooleans = perService(Type.Boolean());
const ServiceDetails = perService(ServiceDetail);
const CheckedAt = Type.String({ format: 'date-time', description: 'When the probe round started.' });

export const HealthOverview = Type.Object({
  version: Type.String(),
  status: Status,
  uptime_seconds: Type.Integer(),
  database_pool: Type.Object({
    size: Type.Integer(),
    checked_in: Type.Integer(),
    checked_out: Type.Integer(),
    overflow: Type.Integer({ description: 'Clients waiting for a connection.' }),
    total_connections: Type.Integer({ description: 'Connections open now.' }),
    available: Type.Integer(),
  }),
  services: ServiceBooleans,
  healthy_count: Type.Integer(),
  total_services: Type.Integer({ description: 'Enabled services.' }),
  details: ServiceDetails,
  checked_at: CheckedAt,
});

export const HealthDetailed = Type.Object({
  status: Status,
  app: Type.String(),
  version: Type.String(),
  services: ServiceBooleans,
  healthy_count: Type.Integer(),
  total_services: Type.Integer(),
  details: ServiceDetails,
  checked_at: CheckedAt,
});

export const ServiceList = Type.Object({
  total_services: Type.Integer(),
  healthy_count: Type.Integer(),
  unhealthy_count: Type.Integer(),
  status: Status,
  services: Type.Array(
    Type.Object({
      name: Type.String(),
      healthy: Type.Boolean(),
      status: ServiceDetail.properties.status,
      latency_ms: ServiceDetail.properties.latency_ms,
      reason: ServiceDetail.properties.reason,
    }),
  ),
  checked_at: CheckedAt,
});

export const ServiceParams = Type.Object({ name: Type.String({ maxLength: 64 }) });

export const OneService = Type.Object({
  service: Type.String(),
  healthy: Type.Boolean(),
  status: ServiceDetail.properties.status,
  latency_ms: ServiceDetail.properties.latency_ms,
  reason: ServiceDetail.properties.reason,
  checked_at: CheckedAt,
});

export const HealthMetrics = Type.Object({
  timestamp: Type.Number({ description: 'Seconds since the epoch.' }),
  uptime_seconds: Type.Integer(),
  database: Type.Object({
    dialect: Type.String(),
    pool_size: Type.Integer(),
    active_connections: Type.Integer(),
    available_connections: Type.Integer(),
    overflow_connections: Type.Integer({ description: 'Clients waiting for a connection.' }),
    open_connections: Type.Integer(),
    total_capacity: Type.Integer(),
    utilization_percent: Type.Number(),
  }),
  redis: Type.Object({
    status: Type.String({ description: 'disabled, or the connection state (ready, reconnecting, …).' }),
    connected: Type.Optional(Type.Boolean()),
    commands_pending: Type.Optional(Type.Integer()),
    reconnects: Type.Optional(Type.Integer()),
    last_ping_ms: Type.Optional(Type.Union([Type.Number(), Type.Null()])),
  }),
  services: Type.Object({
    total: Type.Integer(),
    healthy: Type.Integer(),
    unhealthy: Type.Integer(),
    health_percentage: Type.Number(),
    details: ServiceDetails,
    checked_at: CheckedAt,
  }),
  application: Type.Object({
    version: Type.String(),
    environment: Type.String(),
    api_version: Type.String(),
  }),
  circuit_breakers: Type.Record(
    Type.String(),
    Type.Object({
      state: Type.Union([Type.Literal('closed'), Type.Literal('open'), Type.Literal('half_open')]),
    }),
  ),
  llm: Type.Object({
    in_flight: Type.Integer(),
    queued: Type.Integer(),
    max_concurrent: Type.Integer(),
    queue_size: Type.Integer(),
  }),
  rate_limiting: Type.Object(
    {
      backend: Type.Union([Type.Literal('redis'), Type.Literal('memory')]),
      fallback_active: Type.Boolean({
        description: 'Redis is configured but failing: this instance limits from its own memory.',
      }),
      decisions: Type.Object({ allowed: Type.Integer(), limited: Type.Integer() }),
      backend_errors: Type.Integer({ description: 'Decisions Redis failed or did not answer in time.' }),
      memory_identities: Type.Integer({ description: "Identities held in this instance's memory." }),
    },
    { description: "This instance's rate limit figures, since it started." },
  ),
});

export const ReadinessAnswer = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('not_ready')]),
  checks: Type.Object({ database: ServiceDetail, redis: Type.Optional(ServiceDetail) }),
});
