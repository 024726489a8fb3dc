// Every environment variable the server reads: its type, default and one-line description, in one TypeBox schema
// (docs/configuration.md's settings table and .env.example are checked against it). src/config.ts parses and cross-checks them.
import { Type, type Static } from 'typebox';

/** A union of string literals; Unsafe carries the literal type, which `values.map` would lose (it became never). */
const Enum = <T extends string>(values: readonly T[], description: string, def: T) =>
  Type.Unsafe<T>(
    Type.Union(
      values.map((v) => Type.Literal(v)),
      { description, default: def },
    ),
  );

const Int = (description: string, def: number, minimum: number, maximum = Number.MAX_SAFE_INTEGER) =>
  Type.Integer({ description, default: def, minimum, maximum });

const Bool = (description: string, def: boolean) => Type.Boolean({ description, default: def });

const Str = (description: string, def: string) => Type.String({ description, default: def });

const OptionalStr = (description: string) => Type.Optional(Type.String({ description }));

export const DEFAULT_CORS_ORIGINS =
  'http://localhost:11000,http://localhost:3000,http://127.0.0.1:11000,http://127.0.0.1:3000';

/** The environment variables we read. Order here is the order of docs/configuration.md's settings table. */
export const EnvSchema = Type.Object({
  HOST: Str('Address to listen on.', '0.0.0.0'),
  PORT: Int('TCP port to listen on (0 picks a free one).', 8000, 0, 65535),
  ENVIRONMENT: Enum(
    ['development', 'production', 'test'] as const,
    'development | production | test. Production refuses a missing or weak JWT_SECRET_KEY.',
    'development',
  ),
  LOG_LEVEL: Enum(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const,
    'Log level of the JSON (pino) logs.',
    'info',
  ),
  APP_NAME: Str('Name shown by GET / and GET /health.', 'SutazAI Platform API'),
  DATA_DIR: Str(
    'Folder for the SQLite file, the generated development secret, the embedded vector index and uploaded files.',
    './data',
  ),
  DATABASE_URL: OptionalStr(
    'sqlite:<path> (default sqlite:<DATA_DIR>/sutazai.db) or postgres://user:pass@host:port/db.',
  ),
  POSTGRES_HOST: OptionalStr(
    'Fallback (original name): builds a postgres:// DATABASE_URL when that is unset.',
  ),
  POSTGRES_PORT: Int('Fallback (original name), with POSTGRES_HOST.', 5432, 1, 65535),
  POSTGRES_USER: Str('Fallback (original name), with POSTGRES_HOST.', 'postgres'),
  POSTGRES_PASSWORD: Str('Fallback (original name), with POSTGRES_HOST.', ''),
  POSTGRES_DB: Str('Fallback (original name), with POSTGRES_HOST.', 'sutazai'),
  DB_POOL_SIZE: Int('Most PostgreSQL connections per process.', 10, 1, 1000),
  DB_POOL_TIMEOUT_MS: Int(
    'How long a query waits for a free PostgreSQL connection before failing.',
    30000,
    1,
  ),
  DB_STATEMENT_TIMEOUT_MS: Int('PostgreSQL statement_timeout per connection (0 = none).', 60000, 0),
  SQLITE_CHECKPOINT_MS: Int(
    'SQLite: how often a background thread copies the write-ahead log into the database file (0 = SQLite does it ' +
      'itself, inside the request that crosses 1000 pages, stalling it).',
    250,
    0,
    60000,
  ),
  MIGRATE_ON_START: Bool('Run pending database migrations when `serve` starts.', true),
  REDIS_URL: OptionalStr(
    'redis://host:port/db. Shares rate limits, mail limits, per-user generation slots, WebSocket connection limits and chat events between instances; unset: they live in process memory (one instance).',
  ),
  REDIS_KEY_PREFIX: Str('Prefix of every Redis key this server writes.', 'sutazai:'),
  CORS_ORIGINS: Str(
    'Comma-separated origins allowed by CORS (or a JSON array). "*" allows any origin, without credentials.',
    DEFAULT_CORS_ORIGINS,
  ),
  TRUST_PROXY: Str(
    'false, true, a hop count, or comma-separated proxy addresses/CIDRs whose X-Forwarded-* headers are trusted.',
    'false',
  ),
  BODY_LIMIT_BYTES: Int('Largest request body accepted (413 beyond).', 1048576, 1024),
  SHUTDOWN_TIMEOUT_MS: Int(
    'On SIGTERM/SIGINT, how long in-flight requests may take; then running chats are interrupted (server_shutting_down) and the process exits.',
    30000,
    0,
  ),
  WORKERS: Int('Processes serving one port (node:cluster). More than 1 requires REDIS_URL.', 1, 1, 256),
  WORKER_RESTART_MAX: Int(
    'With WORKERS > 1: restarts of one worker allowed within WORKER_RESTART_WINDOW_MS; one crash more stops the server (exit 1).',
    5,
    0,
    1000,
  ),
  WORKER_RESTART_WINDOW_MS: Int(
    "The window over which WORKER_RESTART_MAX counts a worker's crashes.",
    60000,
    1000,
  ),
  DOCS_ENABLED: Bool(
    'Serve Swagger UI at /docs (the OpenAPI document is always at /api/v1/openapi.json).',
    true,
  ),
  JWT_SECRET_KEY: OptionalStr(
    'HS256 signing secret, at least 32 characters. Unset outside production: generated once and kept in DATA_DIR.',
  ),
  JWT_ISSUER: Str('`iss` claim of the tokens this server issues and accepts.', 'sutazai'),
  JWT_AUDIENCE: Str('`aud` claim of the tokens this server issues and accepts.', 'sutazai-api'),
  ACCESS_TOKEN_EXPIRE_MINUTES: Int('Lifetime of an access token.', 30, 1, 1440),
  REFRESH_TOKEN_EXPIRE_DAYS: Int('Lifetime of a refresh token (each refresh rotates it).', 7, 1, 365),
  BCRYPT_ROUNDS: Int(
    'bcrypt cost of new password hashes; older hashes are rehashed at the next login.',
    12,
    4,
    15,
  ),
  LOCKOUT_THRESHOLD: Int('Consecutive failed logins that lock an account.', 5, 1, 1000),
  LOCKOUT_MINUTES: Int('How long a locked account stays locked.', 30, 1, 10080),
  REQUIRE_EMAIL_VERIFICATION: Bool('Refuse logins (403) until the email address is verified.', false),
  PASSWORD_RESET_EXPIRE_MINUTES: Int('Lifetime of a password-reset link (single use).', 60, 1, 10080),
  EMAIL_VERIFICATION_EXPIRE_HOURS: Int('Lifetime of an email-verification link (single use).', 24, 1, 720),
  MAIL_PER_ADDRESS_PER_HOUR: Int(
    'Password-reset mails, and verification mails, one address receives per hour, whoever asks; more are silently not sent (0 = no limit).',
    3,
    0,
    1000,
  ),
  RATE_LIMIT_PER_MINUTE: Int(
    'Requests one identity (the user of a valid access token, else the client IP) may make to /api/v1 in any 60 seconds, over all routes but health; more get 429 (0 = no limit).',
    100,
    0,
    1_000_000,
  ),
  RATE_LIMIT_BURST: Int(
    'Of those, how many may come at once after being idle; capacity then comes back evenly, RATE_LIMIT_PER_MINUTE a minute (0, or not below RATE_LIMIT_PER_MINUTE: no burst control).',
    20,
    0,
    1_000_000,
  ),
  RATE_LIMIT_LOGIN_FAILURES: Int(
    'Failed logins one client IP may make in any RATE_LIMIT_LOGIN_WINDOW_MINUTES, whatever the accounts; then its logins get 429 (0 = no limit). Successful logins do not count.',
    20,
    0,
    1_000_000,
  ),
  RATE_LIMIT_LOGIN_WINDOW_MINUTES: Int('The window of RATE_LIMIT_LOGIN_FAILURES.', 10, 1, 1440),
  RATE_LIMIT_REGISTER: Int(
    'Registrations one client IP may attempt in any hour, whatever their outcome; more get 429 (0 = no limit).',
    10,
    0,
    1_000_000,
  ),
  RATE_LIMIT_MAIL_PER_MINUTE: Int(
    'Password-reset and verification-resend requests one identity may make in any minute; more get 429 (0 = no limit).',
    5,
    0,
    1_000_000,
  ),
  RATE_LIMIT_REDIS_TIMEOUT_MS: Int(
    "With REDIS_URL: a limit decision Redis has not answered within this counts as failed, and is made in this instance's memory.",
    50,
    1,
    10_000,
  ),
  RATE_LIMIT_MEMORY_MAX_IDENTITIES: Int(
    'Identities one limit keeps in process memory at most (without Redis, or while it fails); idle ones are forgotten first.',
    100_000,
    100,
    10_000_000,
  ),
  SMTP_HOST: OptionalStr(
    'SMTP server for outgoing mail. Unset: mail stays in the outbox table and its link is logged.',
  ),
  SMTP_PORT: Int('Port of the SMTP server (587 for STARTTLS, 465 for implicit TLS).', 587, 1, 65535),
  SMTP_USER: OptionalStr('SMTP login (unset: no authentication).'),
  SMTP_PASSWORD: OptionalStr('SMTP password, with SMTP_USER.'),
  SMTP_SECURE: Bool('Implicit TLS from the first byte (usually port 465).', false),
  SMTP_STARTTLS: Bool(
    'Require STARTTLS before sending (port 587). false: send without upgrading. Not with SMTP_SECURE.',
    true,
  ),
  SMTP_TIMEOUT_MS: Int('Connection, greeting and socket timeout of one SMTP delivery.', 30000, 100),
  FROM_EMAIL: Str('Sender address of outgoing mail.', 'noreply@sutazai.local'),
  FROM_NAME: Str('Sender name of outgoing mail.', 'SutazAI Platform'),
  FRONTEND_URL: Str(
    'Base URL of the web app; mailed links are <FRONTEND_URL>/verify-email?token=… and /reset-password?token=….',
    'http://localhost:3000',
  ),
  OUTBOX_POLL_MS: Int('How often the mail sender looks for due mail in the outbox.', 5000, 10),
  OUTBOX_RETRY_BASE_MS: Int(
    'First retry delay of a failed delivery; doubled on each attempt, at most one hour.',
    30000,
    10,
  ),
  OUTBOX_MAX_ATTEMPTS: Int(
    'Deliveries tried before a mail is marked failed (kept in the outbox table).',
    10,
    1,
    1000,
  ),
  OLLAMA_URL: OptionalStr('Base URL of Ollama (default http://127.0.0.1:11434, or OLLAMA_HOST/OLLAMA_PORT).'),
  OLLAMA_HOST: OptionalStr('Fallback (original name) for OLLAMA_URL: host name or URL.'),
  OLLAMA_PORT: Int('Fallback (original name) for OLLAMA_URL, with OLLAMA_HOST.', 11434, 1, 65535),
  LLM_PROVIDER: Enum(
    ['ollama', 'openai'] as const,
    'ollama, or openai for any OpenAI-compatible server (vLLM, LM Studio, llama.cpp, OpenAI).',
    'ollama',
  ),
  OPENAI_BASE_URL: Str(
    'Base URL of the OpenAI-compatible API, with its /v1 (LLM_PROVIDER=openai).',
    'https://api.openai.com/v1',
  ),
  OPENAI_API_KEY: OptionalStr('API key sent as a bearer token to the OpenAI-compatible server.'),
  DEFAULT_MODEL: Str(
    'Model used when a request names none ("tinyllama" means this too).',
    'tinyllama:latest',
  ),
  EMBEDDING_MODEL: OptionalStr(
    'Model for POST /api/v1/models/embed when a request names none (e.g. nomic-embed-text); unset: DEFAULT_MODEL.',
  ),
  OLLAMA_KEEP_ALIVE: OptionalStr('How long Ollama keeps a model loaded after a request (e.g. 5m, 1h, -1).'),
  OLLAMA_NUM_CTX: Int('Context window asked of Ollama (num_ctx); 0 leaves the model default.', 0, 0),
  LLM_CONNECT_TIMEOUT_MS: Int('Time to open a connection to the LLM server.', 10000, 1),
  LLM_FIRST_TOKEN_TIMEOUT_MS: Int(
    'Time from sending a request to the first byte of the answer (a model may be loading).',
    300000,
    1,
  ),
  LLM_IDLE_TIMEOUT_MS: Int('Longest pause between two chunks of a streamed answer.', 60000, 1),
  LLM_TOTAL_TIMEOUT_MS: Int('Longest time one generation may take in all.', 900000, 1),
  LLM_BREAKER_THRESHOLD: Int('Consecutive failed LLM calls that open the circuit breaker.', 5, 1, 1000),
  LLM_BREAKER_OPEN_MS: Int(
    'How long an open breaker refuses calls before letting one probe through.',
    30000,
    1,
  ),
  LLM_RETRY_ATTEMPTS: Int(
    'Attempts per LLM call (1 = no retry), for connection errors, timeouts before the first token and 502/503/504.',
    3,
    1,
    10,
  ),
  LLM_RETRY_BASE_MS: Int('Delay before the first retry; doubled each time, with jitter.', 1000, 0),
  LLM_MAX_CONCURRENT: Int('Generations in flight per process; more wait in a queue.', 8, 1, 10000),
  LLM_QUEUE_SIZE: Int('Generations that may wait for a slot; beyond, 503.', 100, 0, 100000),
  LLM_MAX_CONCURRENT_PER_USER: Int(
    'Generations in flight per user (or client address); beyond, 429.',
    2,
    1,
    1000,
  ),
  LLM_MAX_TOKENS: Int('Largest max_tokens a request may ask for.', 4096, 1, 1000000),
  CHAT_SYSTEM_PROMPT: Str(
    'System prompt sent first in every conversation (empty: none).',
    'You are a helpful assistant.',
  ),
  CHAT_CONTEXT_MESSAGES: Int(
    'Most earlier messages of a session sent to the model with a new one.',
    20,
    0,
    1000,
  ),
  CHAT_CONTEXT_CHARS: Int('Most characters of earlier messages sent to the model.', 16000, 0),
  CHAT_MAX_MESSAGE_CHARS: Int('Longest chat message accepted (400 beyond).', 5000, 1, 1000000),
  ALLOW_ANONYMOUS_CHAT: Bool(
    'Let clients without a token chat; each is an anonymous owner (its signed cookie, else its address) and sees only its own sessions.',
    true,
  ),
  CHAT_SSE_KEEPALIVE_MS: Int(
    'Interval of SSE keep-alive comments while a streamed answer is open.',
    15000,
    100,
  ),
  WS_MAX_CONNECTIONS: Int(
    'Open chat WebSockets allowed at once (across every instance sharing REDIS_URL); the next one is closed with 1008.',
    1000,
    1,
  ),
  WS_MAX_CONNECTIONS_PER_USER: Int(
    'Open chat WebSockets one user (or anonymous client) may hold at once, across instances with REDIS_URL.',
    5,
    1,
  ),
  WS_HEARTBEAT_INTERVAL_MS: Int(
    'How often every chat WebSocket is pinged (a protocol ping, and a JSON ping to one idle that long).',
    30000,
    50,
  ),
  WS_HEARTBEAT_TIMEOUT_MS: Int(
    'A chat WebSocket silent this long (no frame, no pong) is terminated and its slot freed; above the interval.',
    60000,
    100,
  ),
  WS_MAX_MESSAGE_BYTES: Int('Largest client frame; a bigger one closes the socket with 1009.', 65536, 1024),
  WS_MESSAGES_PER_MINUTE: Int(
    'Frames one chat WebSocket may send per minute (0: no limit); past it, `rate_limited` errors, then close 1008.',
    120,
    0,
  ),
  WS_MAX_BUFFERED_BYTES: Int(
    'Bytes waiting to reach a slow client before the server stops sending to it and closes it with 1013.',
    1048576,
    1024,
  ),
  WS_AUTH_TIMEOUT_MS: Int(
    'How long a chat WebSocket without a token may take to send its `auth` frame (when anonymous chat is off).',
    10000,
    100,
  ),
  WS_REDIS_LEASE_MS: Int(
    'With REDIS_URL: how long an instance that stopped renewing (it died) keeps its WebSocket slots counted.',
    30000,
    1000,
  ),
  AGENTS_BASE_URL: Str(
    'Where the built-in external agents run: each one at this URL with its own port (letta 11401 … gpt-engineer 11416).',
    'http://localhost',
  ),
  AGENTS_PROBE_TIMEOUT_MS: Int(
    'Longest wait for an external agent’s /health; a slower one is listed as `unreachable`.',
    2000,
    1,
  ),
  AGENTS_STATUS_TTL_MS: Int(
    'How long the agents’ statuses (probes and the model list) are reused; concurrent lists share one round.',
    10000,
    0,
  ),
  AGENTS_MODEL_REGISTRY_FILE: OptionalStr(
    'A JSON file of model registry entries ({"key": {name, provider, capabilities, max_tokens, cost_per_1k, latency, quality, local}}) that replace or add to the built-in eight.',
  ),
  HEALTH_PROBE_TIMEOUT_MS: Int(
    'Longest wait for one service of a health round; a service that takes longer is unhealthy ("timeout").',
    2000,
    1,
    60000,
  ),
  HEALTH_CACHE_TTL_MS: Int(
    'How long a health round is reused; concurrent health requests share one round (0 = a new round each time, still shared).',
    5000,
    0,
    3600000,
  ),
  RABBITMQ_URL: OptionalStr(
    'amqp(s)://user:pass@host:port/vhost of RabbitMQ, for its health probe; unset: disabled.',
  ),
  NEO4J_URL: OptionalStr('bolt:// or neo4j:// URL of Neo4j, for its health probe; unset: disabled.'),
  NEO4J_USER: Str('Neo4j user, with NEO4J_URL.', 'neo4j'),
  NEO4J_PASSWORD: OptionalStr('Neo4j password, with NEO4J_URL.'),
  CHROMADB_URL: OptionalStr(
    'http(s) URL of ChromaDB: the `chromadb` vector backend and its health probe (heartbeat); unset: disabled.',
  ),
  QDRANT_URL: OptionalStr(
    "http(s) URL of Qdrant's REST API: the `qdrant` vector backend and its health probe (/healthz); unset: disabled.",
  ),
  QDRANT_API_KEY: OptionalStr("Qdrant's API key (sent as the api-key header), with QDRANT_URL."),
  FAISS_URL: OptionalStr(
    'http(s) URL of a FAISS service, for its health probe (/health); unset: the `faiss` probe reports the embedded vector index.',
  ),
  VECTORS_DEFAULT_DATABASE: Enum(
    ['embedded', 'faiss', 'qdrant', 'chromadb'] as const,
    'Vector backend of the /vectors routes when a request gives no ?database= (faiss is the embedded index).',
    'embedded',
  ),
  VECTORS_FILE: OptionalStr('SQLite file of the embedded vector index (default <DATA_DIR>/vectors.db).'),
  VECTORS_TIMEOUT_MS: Int(
    'Longest wait for one call to Qdrant or ChromaDB; past it the call is a 503.',
    10000,
    100,
    600000,
  ),
  FILES_DIR: OptionalStr('Folder of uploaded files, stored by generated id (default <DATA_DIR>/files).'),
  FILES_MAX_BYTES: Int('Largest upload (413 beyond).', 104857600, 1),
  FILES_QUOTA_BYTES: Int("Total size of one user's files (413 beyond; 0 = no quota).", 1073741824, 0),
  FILES_UPLOAD_IDLE_TIMEOUT_MS: Int(
    'An upload whose body stops arriving for this long is dropped (408; nothing is stored).',
    30000,
    100,
  ),
  FILES_MAX_CONCURRENT_UPLOADS: Int(
    'Uploads one user may have in progress at once, per process (429 beyond).',
    4,
    1,
  ),
  FILES_ALLOWED_TYPES: Str(
    'Comma-separated media types an upload may have, as detected from its content (not its name).',
    'text/plain,text/markdown,text/csv,application/json,application/pdf,application/vnd.openxmlformats-officedocument.wordprocessingml.document,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,application/vnd.ms-excel,image/jpeg,image/png,image/gif,image/webp,application/zip,application/x-tar,application/gzip',
  ),
  DOCUMENTS_CHUNK_CHARS: Int('Characters per chunk when a file is indexed.', 1200, 100, 100000),
  DOCUMENTS_CHUNK_OVERLAP_CHARS: Int(
    'Characters shared by consecutive chunks (less than DOCUMENTS_CHUNK_CHARS).',
    200,
    0,
    50000,
  ),
  DOCUMENTS_EMBED_BATCH: Int('Chunks embedded per call to the LLM provider while indexing.', 32, 1, 1024),
  DOCUMENTS_MAX_CHARS: Int(
    "Most characters of a file's text that are indexed; a longer file fails with that reason.",
    5000000,
    1000,
  ),
  DOCUMENTS_TOP_K: Int('Chunks retrieved for a chat over files.', 5, 1, 50),
  DOCUMENTS_CONTEXT_CHARS: Int(
    "Character budget of the retrieved chunks put into a chat's context.",
    6000,
    200,
    1000000,
  ),
  CONSUL_URL: OptionalStr(
    'http(s) URL of Consul, for its health probe (/v1/status/leader); unset: disabled.',
  ),
  CONSUL_SERVICE_ADDRESS: OptionalStr(
    'Address Consul is given for this instance and its /health/ready check (default: HOST when specific, else the host name).',
  ),
  CONSUL_TOKEN: OptionalStr('Consul ACL token (X-Consul-Token) for the probe and the registration.'),
  METRICS_TOKEN: OptionalStr(
    'When set (16+ characters), GET /metrics requires `Authorization: Bearer <this>` (401 otherwise); unset: /metrics is open.',
  ),
  KONG_ADMIN_URL: OptionalStr(
    "http(s) URL of Kong's admin API, for its health probe (/status); unset: disabled.",
  ),
});

export type Env = Static<typeof EnvSchema>;
