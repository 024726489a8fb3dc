// The parsed configuration: parseConfig() reads an env-like object once (the settings and their defaults are in
// config/env-schema.ts), cross-checks them and reports every problem at once; nothing else reads process.env.
import net from 'node:net';
import path from 'node:path';
import type { TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { DEFAULT_CORS_ORIGINS, EnvSchema, type Env } from './config/env-schema.js';
import { healthConfig, type HealthConfig } from './config/health-config.js';
import { agentsConfig, type AgentsConfig } from './config/agents-config.js';
import { llmConfig, type LlmConfig } from './config/llm-config.js';
import { mailConfig, type MailConfig, type SmtpConfig } from './config/mail-config.js';
import { websocketConfig, type WebSocketConfig } from './config/websocket-config.js';
import { vectorsConfig, type VectorsConfig } from './config/vectors-config.js';
import {
  documentsConfig,
  filesConfig,
  type DocumentsConfig,
  type FilesConfig,
} from './config/files-config.js';

export { DEFAULT_CORS_ORIGINS, EnvSchema, type Env, type SmtpConfig };

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
    /** WORKER_RESTART_MAX restarts of one worker within WORKER_RESTART_WINDOW_MS; the crash after them stops all. */
    workerRestart: { max: number; windowMs: number };
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
    /** SQLite: interval of the background WAL checkpoints; 0 leaves them to SQLite's automatic checkpoints. */
    checkpointMs: number;
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
    /** MAIL_PER_ADDRESS_PER_HOUR, per kind of mail (0 = off). */
    mailPerAddressPerHour: number;
  };
  /** The RATE_LIMIT_* settings; a count of 0 turns its limit off. */
  rateLimit: {
    perMinute: number;
    burst: number;
    loginFailures: number;
    loginWindowMinutes: number;
    registerPerHour: number;
    mailPerMinute: number;
    redisTimeoutMs: number;
    memoryMaxIdentities: number;
  };
  mail: MailConfig;
  llm: LlmConfig;
  chat: {
    systemPrompt: string;
    contextMessages: number;
    contextChars: number;
    maxMessageChars: number;
    allowAnonymous: boolean;
    keepAliveMs: number;
  };
  websocket: WebSocketConfig;
  agents: AgentsConfig;
  vectors: VectorsConfig;
  files: FilesConfig;
  documents: DocumentsConfig;
  health: HealthConfig;
  metrics: { token: string | undefined };
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
      'WORKERS: more than 1 requires REDIS_URL, since rate limits, mail limits and per-user generation slots would split between processes',
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
  const health = healthConfig(env, problems);
  const websocket = websocketConfig(env, problems);
  const agents = agentsConfig(env, problems);
  const vectors = vectorsConfig(env, dataDir, problems);
  const files = filesConfig(env, dataDir, problems);
  const documents = documentsConfig(env, problems);
  // A blank or short token would lock every scrape out, or guard nothing: refuse it at start.
  if (env.METRICS_TOKEN !== undefined && env.METRICS_TOKEN !== '' && !/^\S{16,}$/.test(env.METRICS_TOKEN))
    problems.push('METRICS_TOKEN: must be at least 16 characters, without spaces (a random value)');
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
      workerRestart: { max: env.WORKER_RESTART_MAX, windowMs: env.WORKER_RESTART_WINDOW_MS },
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
      checkpointMs: env.SQLITE_CHECKPOINT_MS,
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
      mailPerAddressPerHour: env.MAIL_PER_ADDRESS_PER_HOUR,
    },
    rateLimit: {
      perMinute: env.RATE_LIMIT_PER_MINUTE,
      burst: env.RATE_LIMIT_BURST,
      loginFailures: env.RATE_LIMIT_LOGIN_FAILURES,
      loginWindowMinutes: env.RATE_LIMIT_LOGIN_WINDOW_MINUTES,
      registerPerHour: env.RATE_LIMIT_REGISTER,
      mailPerMinute: env.RATE_LIMIT_MAIL_PER_MINUTE,
      redisTimeoutMs: env.RATE_LIMIT_REDIS_TIMEOUT_MS,
      memoryMaxIdentities: env.RATE_LIMIT_MEMORY_MAX_IDENTITIES,
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
    websocket,
    agents,
    vectors,
    files,
    documents,
    health,
    metrics: { token: env.METRICS_TOKEN === '' ? undefined : env.METRICS_TOKEN },
  };
}

/** Rows for docs/configuration.md and .env.example: name, default, description. */
export function describeSettings(): { name: string; default: string; description: string }[] {
  return Object.entries(
    EnvSchema.properties as Record<string, TSchema & { description?: string; default?: unknown }>,
  ).map(([name, schema]) => ({
    name,
    default: schema.default === undefined ? '' : JSON.stringify(schema.default).replace(/^"|"$/g, ''),
    description: schema.description ?? '',
  }));
}
