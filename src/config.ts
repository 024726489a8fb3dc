// Every setting of the server, in one place: its environment variable, type, default and one-line description.
// parseConfig() reads an env-like object once and reports every problem at once; nothing else reads process.env.
import path from 'node:path';
import { Type, type Static, type TSchema } from 'typebox';
import { Value } from 'typebox/value';

const Enum = <T extends string>(values: readonly T[], description: string, def: T) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    { description, default: def },
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
  OLLAMA_URL: OptionalStr('Base URL of Ollama (default http://127.0.0.1:11434, or OLLAMA_HOST/OLLAMA_PORT).'),
  OLLAMA_HOST: OptionalStr('Fallback (original name) for OLLAMA_URL: host name or URL.'),
  OLLAMA_PORT: Int('Fallback (original name) for OLLAMA_URL, with OLLAMA_HOST.', 11434, 1, 65535),
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
  auth: { jwtSecret: string | undefined };
  llm: { ollamaUrl: string };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Secrets that must never sign tokens: the original's public fallback and other obvious placeholders. */
const WEAK_SECRETS = new Set(['change_me_in_production', 'changeme', 'secret', 'your-secret-key', 'dev']);
export const MIN_SECRET_LENGTH = 32;

export function isWeakSecret(secret: string): boolean {
  return secret.length < MIN_SECRET_LENGTH || WEAK_SECRETS.has(secret.toLowerCase());
}

function describeErrors(schema: TSchema, value: unknown): string[] {
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const error of Value.Errors(schema, value)) {
    const key = error.instancePath.replace(/^\//, '');
    if (!key || seen.has(key)) continue;
    seen.add(key);
    const property = (EnvSchema.properties as Record<string, TSchema>)[key];
    const got = (value as Record<string, unknown>)[key];
    const allowed =
      property && 'anyOf' in property
        ? `one of ${(property.anyOf as { const: string }[]).map((s) => s.const).join(', ')}`
        : error.message;
    problems.push(`${key}: must be ${allowed.replace(/^must be /, '')} (got ${JSON.stringify(got)})`);
  }
  return problems;
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

function parseTrustProxy(raw: string): TrustProxy {
  const v = raw.trim().toLowerCase();
  if (v === '' || v === 'false' || v === '0') return false;
  if (v === 'true') return true;
  if (/^\d+$/.test(v)) return Number(v);
  return parseList(raw);
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
  problems.push(
    `DATABASE_URL: must start with sqlite: or postgres:// (got a value starting ${JSON.stringify(url.slice(0, 12))})`,
  );
  return { dialect: 'sqlite', url, sqlitePath: '' };
}

function ollamaUrl(env: Env, problems: string[]): string {
  let url = env.OLLAMA_URL?.trim();
  if (!url && env.OLLAMA_HOST) {
    const host = env.OLLAMA_HOST.trim();
    url = /^https?:\/\//i.test(host) ? host : `http://${host}:${env.OLLAMA_PORT}`;
  }
  url ??= 'http://127.0.0.1:11434';
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('protocol');
  } catch {
    problems.push(`OLLAMA_URL: must be an http(s) URL (got ${JSON.stringify(url)})`);
  }
  return url.replace(/\/+$/, '');
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
  const converted = Value.Default(EnvSchema, Value.Convert(EnvSchema, picked));
  const problems = describeErrors(EnvSchema, converted);
  if (problems.length > 0) throw new ConfigError(problems);
  const env = converted as Env;

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
    problems.push('TRUST_PROXY: must be true, false, a hop count or a list of addresses');
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
    if (!env.JWT_SECRET_KEY) problems.push('JWT_SECRET_KEY: must be set in production');
    else if (isWeakSecret(env.JWT_SECRET_KEY)) {
      problems.push(`JWT_SECRET_KEY: must be at least ${MIN_SECRET_LENGTH} characters and not a placeholder`);
    }
  } else if (env.JWT_SECRET_KEY && env.JWT_SECRET_KEY.length < MIN_SECRET_LENGTH) {
    problems.push(`JWT_SECRET_KEY: must be at least ${MIN_SECRET_LENGTH} characters`);
  }
  const llm = { ollamaUrl: ollamaUrl(env, problems) };
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
    auth: { jwtSecret: env.JWT_SECRET_KEY },
    llm,
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
