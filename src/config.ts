// Every setting of the server, in one place: its environment variable, type, default and one-line description.
// parseConfig() reads an env-like object once and reports every problem at once; nothing else reads process.env.
import net from 'node:net';
import path from 'node:path';
import { Type, type Static, type TSchema } from 'typebox';
import { Value } from 'typebox/value';

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

/** The environment variables we read. Order here is the order of README's settings table. */
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
    'Folder for the SQLite file, the generated development secret and, later, vectors and files.',
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
  MIGRATE_ON_START: Bool('Run pending database migrations when `serve` starts.', true),
  REDIS_URL: OptionalStr(
    'redis://host:port/db. Unset: rate limits, denylists and pub/sub live in process memory (one instance).',
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
    'On SIGTERM/SIGINT, how long in-flight requests may take before the process exits.',
    30000,
    0,
  ),
  WORKERS: Int('Processes serving one port (node:cluster). More than 1 requires REDIS_URL.', 1, 1, 256),
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
  ALLOW_ANONYMOUS_CHAT: Bool('Let clients without a token chat (their sessions cannot be read back).', true),
  CHAT_SSE_KEEPALIVE_MS: Int(
    'Interval of SSE keep-alive comments while a streamed answer is open.',
    15000,
    100,
  ),
});

export type Env = Static<typeof EnvSchema>;
export type Dialect = 'sqlite' | 'postgres';
export type TrustProxy = boolean | number | string[];

export interface Config {
  app: { name: string; version: string; environment: Env['ENVIRONMENT'] };
  server: {
    host: string;
    port: number;
    trustProxy: TrustProxy;
    bodyLimit: number;
    shutdownTimeoutMs: number;
    workers: number;
    corsOrigins: string[];
    docsEnabled: boolean;
  };
  log: { level: Env['LOG_LEVEL'] };
  dataDir: string;
  db: {
    dialect: Dialect;
    /** The URL as configured: sqlite:<path> or postgres://… (may hold a password: never log it). */
    url: string;
    /** Absolute path of the SQLite file, or ':memory:'; only for the sqlite dialect. */
    sqlitePath: string;
    poolSize: number;
    poolTimeoutMs: number;
    statementTimeoutMs: number;
    migrateOnStart: boolean;
  };
  redis: { url: string | undefined; keyPrefix: string };
  auth: {
    jwtSecret: string | undefined;
    jwtIssuer: string;
    jwtAudience: string;
    accessTokenMinutes: number;
    refreshTokenDays: number;
    bcryptRounds: number;
    lockoutThreshold: number;
    lockoutMinutes: number;
    requireEmailVerification: boolean;
    passwordResetMinutes: number;
    emailVerificationHours: number;
  };
  mail: {
    /** Unset when SMTP_HOST is: mail then stays in the outbox. */
    smtp: SmtpConfig | undefined;
    fromEmail: string;
    fromName: string;
    frontendUrl: string;
    outbox: { pollMs: number; retryBaseMs: number; maxAttempts: number };
  };
  llm: {
    provider: Env['LLM_PROVIDER'];
    ollamaUrl: string;
    openaiBaseUrl: string;
    openaiApiKey: string | undefined;
    defaultModel: string;
    keepAlive: string | undefined;
    numCtx: number;
    timeouts: { connectMs: number; firstTokenMs: number; idleMs: number; totalMs: number };
    breaker: { threshold: number; openMs: number };
    retry: { attempts: number; baseMs: number };
    maxConcurrent: number;
    queueSize: number;
    maxConcurrentPerUser: number;
    maxTokens: number;
  };
  chat: {
    systemPrompt: string;
    contextMessages: number;
    contextChars: number;
    maxMessageChars: number;
    allowAnonymous: boolean;
    keepAliveMs: number;
  };
}

export interface SmtpConfig {
  host: string;
  port: number;
  user: string | undefined;
  password: string | undefined;
  secure: boolean;
  startTls: boolean;
  timeoutMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Fragments of sample-config placeholders (the original's public fallback `change_me_in_production` among them).
 * Matched anywhere, because a placeholder padded past the minimum length is still public.
 */
const PLACEHOLDER_SECRET = /change[-_ ]?me|replace[-_ ]?me|your[-_ ]?secret/i;
export const MIN_SECRET_LENGTH = 32;

/** Why a JWT secret must not sign tokens, or undefined when it may. */
function secretWeakness(secret: string): string | undefined {
  if (PLACEHOLDER_SECRET.test(secret)) return 'is a placeholder from a sample config; set a random value';
  if (secret.length < MIN_SECRET_LENGTH)
    return `must be at least ${MIN_SECRET_LENGTH} characters (got ${secret.length})`;
  if (/^(.)\1*$/.test(secret)) return 'is one character repeated; set a random value';
  return undefined;
}

export function isWeakSecret(secret: string): boolean {
  return secretWeakness(secret) !== undefined;
}

type SchemaInfo = TSchema & {
  type?: string;
  anyOf?: { const: string }[];
  minimum?: number;
  maximum?: number;
};

/**
 * One environment string to the setting's type. Strict on purpose: "80.5", "0x10" and "1e3" are not whole numbers
 * (typebox's Convert would round or reinterpret them), and a boolean is true/false/1/0 in any case.
 */
function convert(schema: SchemaInfo, raw: string): unknown {
  const text = raw.trim();
  if (schema.type === 'integer') return /^[+-]?\d+$/.test(text) ? Number(text) : raw;
  if (schema.type === 'boolean') {
    const lower = text.toLowerCase();
    if (lower === 'true' || lower === '1') return true;
    if (lower === 'false' || lower === '0') return false;
    return raw;
  }
  return schema.anyOf ? text : raw;
}

function expectation(schema: SchemaInfo, fallback: string): string {
  if (schema.anyOf) return `one of ${schema.anyOf.map((s) => s.const).join(', ')}`;
  if (schema.type === 'boolean') return 'true or false';
  if (schema.type === 'integer') {
    const { minimum = 0, maximum = Number.MAX_SAFE_INTEGER } = schema;
    return maximum === Number.MAX_SAFE_INTEGER
      ? `a whole number of at least ${minimum}`
      : `a whole number from ${minimum} to ${maximum}`;
  }
  return fallback.replace(/^must be /, '');
}

/**
 * Converts and checks each setting on its own, so that every bad variable is reported (one schema-wide check stops
 * at typebox's maxErrors, which one bad enum alone can fill). A bad setting is left to its default, so the
 * cross-setting checks below still run and their problems join the list.
 */
function readEnv(picked: Record<string, string>, problems: string[]): Env {
  const values: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(picked)) {
    const schema = (EnvSchema.properties as Record<string, SchemaInfo>)[key];
    if (!schema) continue;
    const value = convert(schema, raw);
    const [error] = Value.Errors(schema, value);
    if (error)
      problems.push(`${key}: must be ${expectation(schema, error.message)} (got ${JSON.stringify(raw)})`);
    else values[key] = value;
  }
  return Value.Default(EnvSchema, values) as Env;
}

function parseList(raw: string): string[] {
  const trimmed = raw.trim();
  if (trimmed.startsWith('[')) {
    const parsed: unknown = JSON.parse(trimmed);
    if (!Array.isArray(parsed) || !parsed.every((s) => typeof s === 'string'))
      throw new Error('not a string array');
    return parsed.map((s) => s.trim()).filter(Boolean);
  }
  return trimmed
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Named ranges that Fastify's proxy-addr understands besides addresses and CIDRs. */
const PROXY_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** An address, address/prefix or IPv4 address/netmask, as proxy-addr accepts them. */
function isProxyAddress(entry: string): boolean {
  if (PROXY_RANGE_NAMES.has(entry)) return true;
  const [address = '', range, ...rest] = entry.split('/');
  const version = net.isIP(address);
  if (version === 0 || rest.length > 0) return false;
  if (range === undefined) return true;
  if (/^\d+$/.test(range)) return Number(range) <= (version === 4 ? 32 : 128);
  return version === 4 && net.isIPv4(range);
}

function parseTrustProxy(raw: string): TrustProxy {
  const v = raw.trim().toLowerCase();
  if (v === '' || v === 'false' || v === '0') return false;
  if (v === 'true') return true;
  if (/^\d+$/.test(v)) return Number(v);
  const list = parseList(raw);
  // Checked here: proxy-addr would otherwise throw "invalid IP address: yes" from inside buildApp, naming no setting.
  if (list.length === 0 || !list.every(isProxyAddress)) throw new Error('not a list of addresses');
  return list;
}

function parseDatabaseUrl(
  env: Env,
  dataDir: string,
  problems: string[],
): Pick<Config['db'], 'dialect' | 'url' | 'sqlitePath'> {
  let url = env.DATABASE_URL?.trim();
  if (!url && env.POSTGRES_HOST) {
    const auth = env.POSTGRES_PASSWORD
      ? `${encodeURIComponent(env.POSTGRES_USER)}:${encodeURIComponent(env.POSTGRES_PASSWORD)}`
      : encodeURIComponent(env.POSTGRES_USER);
    url = `postgres://${auth}@${env.POSTGRES_HOST}:${env.POSTGRES_PORT}/${encodeURIComponent(env.POSTGRES_DB)}`;
  }
  if (!url) url = `sqlite:${path.join(dataDir, 'sutazai.db')}`;

  if (/^postgres(ql)?:\/\//i.test(url)) {
    try {
      new URL(url);
    } catch {
      problems.push('DATABASE_URL: is not a valid postgres:// URL');
    }
    return { dialect: 'postgres', url, sqlitePath: '' };
  }
  const sqlite = /^sqlite:(?:\/\/)?(.+)$/i.exec(url);
  if (sqlite?.[1]) {
    const file = sqlite[1];
    return { dialect: 'sqlite', url, sqlitePath: file === ':memory:' ? file : path.resolve(file) };
  }
  // Name only the scheme: the rest of a URL may hold a password.
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
  problems.push(
    `DATABASE_URL: must start with sqlite: or postgres:// (got ${scheme ? `a ${scheme}: URL` : 'no scheme'})`,
  );
  return { dialect: 'sqlite', url, sqlitePath: '' };
}

function ollamaUrl(env: Env, problems: string[]): string {
  let url = env.OLLAMA_URL?.trim();
  const source = url ? 'OLLAMA_URL' : env.OLLAMA_HOST ? 'OLLAMA_HOST' : 'OLLAMA_URL';
  if (!url && env.OLLAMA_HOST) {
    const host = env.OLLAMA_HOST.trim();
    url = /^https?:\/\//i.test(host) ? host : `http://${host}:${env.OLLAMA_PORT}`;
  }
  url ??= 'http://127.0.0.1:11434';
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('protocol');
  } catch {
    problems.push(`${source}: must make an http(s) URL (got ${JSON.stringify(url)})`);
  }
  return url.replace(/\/+$/, '');
}

function llmConfig(env: Env, problems: string[]): Config['llm'] {
  const openaiBaseUrl = env.OPENAI_BASE_URL.trim().replace(/\/+$/, '');
  try {
    const parsed = new URL(openaiBaseUrl);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('protocol');
  } catch {
    problems.push(`OPENAI_BASE_URL: must be an http(s) URL (got ${JSON.stringify(env.OPENAI_BASE_URL)})`);
  }
  if (!env.DEFAULT_MODEL.trim()) problems.push('DEFAULT_MODEL: must not be empty');
  return {
    provider: env.LLM_PROVIDER,
    ollamaUrl: ollamaUrl(env, problems),
    openaiBaseUrl,
    openaiApiKey: env.OPENAI_API_KEY,
    defaultModel: env.DEFAULT_MODEL.trim(),
    keepAlive: env.OLLAMA_KEEP_ALIVE,
    numCtx: env.OLLAMA_NUM_CTX,
    timeouts: {
      connectMs: env.LLM_CONNECT_TIMEOUT_MS,
      firstTokenMs: env.LLM_FIRST_TOKEN_TIMEOUT_MS,
      idleMs: env.LLM_IDLE_TIMEOUT_MS,
      totalMs: env.LLM_TOTAL_TIMEOUT_MS,
    },
    breaker: { threshold: env.LLM_BREAKER_THRESHOLD, openMs: env.LLM_BREAKER_OPEN_MS },
    retry: { attempts: env.LLM_RETRY_ATTEMPTS, baseMs: env.LLM_RETRY_BASE_MS },
    maxConcurrent: env.LLM_MAX_CONCURRENT,
    queueSize: env.LLM_QUEUE_SIZE,
    maxConcurrentPerUser: env.LLM_MAX_CONCURRENT_PER_USER,
    maxTokens: env.LLM_MAX_TOKENS,
  };
}

/** A mailbox address: something@domain, without spaces or angle brackets (they would break the From header). */
const MAIL_ADDRESS = /^[^\s@<>"]+@[^\s@<>"]+$/;

function mailConfig(env: Env, problems: string[]): Config['mail'] {
  if (env.SMTP_SECURE && env.SMTP_STARTTLS && env.SMTP_HOST) {
    // The original passed both to its SMTP client, which refuses the pair: every real send failed (reference §11.17).
    problems.push(
      'SMTP_SECURE and SMTP_STARTTLS: choose one (implicit TLS, usually port 465, or STARTTLS, usually 587)',
    );
  }
  if (env.SMTP_PASSWORD && !env.SMTP_USER) problems.push('SMTP_PASSWORD: is set without SMTP_USER');
  if (!MAIL_ADDRESS.test(env.FROM_EMAIL))
    problems.push(
      `FROM_EMAIL: must be an address like noreply@example.com (got ${JSON.stringify(env.FROM_EMAIL)})`,
    );
  if (/[\r\n]/.test(env.FROM_NAME)) problems.push('FROM_NAME: must be one line');
  let frontendUrl = env.FRONTEND_URL.trim().replace(/\/+$/, '');
  try {
    const parsed = new URL(frontendUrl);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('protocol');
  } catch {
    problems.push(`FRONTEND_URL: must be an http(s) URL (got ${JSON.stringify(env.FRONTEND_URL)})`);
    frontendUrl = '';
  }
  return {
    smtp: env.SMTP_HOST
      ? {
          host: env.SMTP_HOST.trim(),
          port: env.SMTP_PORT,
          user: env.SMTP_USER,
          password: env.SMTP_PASSWORD,
          secure: env.SMTP_SECURE,
          startTls: env.SMTP_STARTTLS,
          timeoutMs: env.SMTP_TIMEOUT_MS,
        }
      : undefined,
    fromEmail: env.FROM_EMAIL,
    fromName: env.FROM_NAME,
    frontendUrl,
    outbox: {
      pollMs: env.OUTBOX_POLL_MS,
      retryBaseMs: env.OUTBOX_RETRY_BASE_MS,
      maxAttempts: env.OUTBOX_MAX_ATTEMPTS,
    },
  };
}

/**
 * Parses an env-like object (process.env in production, a literal in tests) into a Config.
 * Throws ConfigError listing every problem found.
 */
export function parseConfig(rawEnv: Record<string, string | undefined>, version = '0.0.0'): Config {
  const known = Object.keys(EnvSchema.properties);
  const picked: Record<string, string> = {};
  for (const key of known) {
    const value = rawEnv[key];
    if (value !== undefined && value !== '') picked[key] = value;
  }
  const problems: string[] = [];
  const env = readEnv(picked, problems);

  const dataDir = path.resolve(env.DATA_DIR);
  const db = parseDatabaseUrl(env, dataDir, problems);

  let corsOrigins: string[] = [];
  try {
    corsOrigins = parseList(env.CORS_ORIGINS);
  } catch {
    problems.push('CORS_ORIGINS: must be a comma-separated list or a JSON array of strings');
  }
  for (const origin of corsOrigins) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/i.test(origin)) {
      problems.push(`CORS_ORIGINS: ${JSON.stringify(origin)} is not an origin like https://app.example.com`);
    }
  }

  let trustProxy: TrustProxy = false;
  try {
    trustProxy = parseTrustProxy(env.TRUST_PROXY);
  } catch {
    problems.push(
      `TRUST_PROXY: must be true, false, a hop count or a comma-separated list of IP addresses or CIDRs (got ${JSON.stringify(env.TRUST_PROXY)})`,
    );
  }

  if (env.REDIS_URL && !/^rediss?:\/\//i.test(env.REDIS_URL)) {
    problems.push('REDIS_URL: must start with redis:// or rediss://');
  }
  if (env.WORKERS > 1 && !env.REDIS_URL) {
    problems.push(
      'WORKERS: more than 1 requires REDIS_URL, since rate limits, token denylists and WebSocket counts would split between processes',
    );
  }
  if (env.WORKERS > 1 && db.dialect === 'sqlite' && db.sqlitePath === ':memory:') {
    problems.push('WORKERS: more than 1 cannot share an in-memory SQLite database');
  }
  if (env.ENVIRONMENT === 'production') {
    const weakness = env.JWT_SECRET_KEY
      ? secretWeakness(env.JWT_SECRET_KEY)
      : `must be set in production (a random value of at least ${MIN_SECRET_LENGTH} characters)`;
    if (weakness) problems.push(`JWT_SECRET_KEY: ${weakness}`);
  } else if (env.JWT_SECRET_KEY && env.JWT_SECRET_KEY.length < MIN_SECRET_LENGTH) {
    problems.push(`JWT_SECRET_KEY: must be at least ${MIN_SECRET_LENGTH} characters`);
  }
  const llm = llmConfig(env, problems);
  const mail = mailConfig(env, problems);
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    app: { name: env.APP_NAME, version, environment: env.ENVIRONMENT },
    server: {
      host: env.HOST,
      port: env.PORT,
      trustProxy,
      bodyLimit: env.BODY_LIMIT_BYTES,
      shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
      workers: env.WORKERS,
      corsOrigins,
      docsEnabled: env.DOCS_ENABLED,
    },
    log: { level: env.LOG_LEVEL },
    dataDir,
    db: {
      ...db,
      poolSize: env.DB_POOL_SIZE,
      poolTimeoutMs: env.DB_POOL_TIMEOUT_MS,
      statementTimeoutMs: env.DB_STATEMENT_TIMEOUT_MS,
      migrateOnStart: env.MIGRATE_ON_START,
    },
    redis: { url: env.REDIS_URL, keyPrefix: env.REDIS_KEY_PREFIX },
    auth: {
      jwtSecret: env.JWT_SECRET_KEY,
      jwtIssuer: env.JWT_ISSUER,
      jwtAudience: env.JWT_AUDIENCE,
      accessTokenMinutes: env.ACCESS_TOKEN_EXPIRE_MINUTES,
      refreshTokenDays: env.REFRESH_TOKEN_EXPIRE_DAYS,
      bcryptRounds: env.BCRYPT_ROUNDS,
      lockoutThreshold: env.LOCKOUT_THRESHOLD,
      lockoutMinutes: env.LOCKOUT_MINUTES,
      requireEmailVerification: env.REQUIRE_EMAIL_VERIFICATION,
      passwordResetMinutes: env.PASSWORD_RESET_EXPIRE_MINUTES,
      emailVerificationHours: env.EMAIL_VERIFICATION_EXPIRE_HOURS,
    },
    mail,
    llm,
    chat: {
      systemPrompt: env.CHAT_SYSTEM_PROMPT,
      contextMessages: env.CHAT_CONTEXT_MESSAGES,
      contextChars: env.CHAT_CONTEXT_CHARS,
      maxMessageChars: env.CHAT_MAX_MESSAGE_CHARS,
      allowAnonymous: env.ALLOW_ANONYMOUS_CHAT,
      keepAliveMs: env.CHAT_SSE_KEEPALIVE_MS,
    },
  };
}

/** Rows for README and .env.example: name, default, description. */
export function describeSettings(): { name: string; default: string; description: string }[] {
  return Object.entries(
    EnvSchema.properties as Record<string, TSchema & { description?: string; default?: unknown }>,
  ).map(([name, schema]) => ({
    name,
    default: schema.default === undefined ? '' : JSON.stringify(schema.default).replace(/^"|"$/g, ''),
    description: schema.description ?? '',
  }));
}
