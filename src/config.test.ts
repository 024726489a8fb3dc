import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  DEFAULT_CORS_ORIGINS,
  EnvSchema,
  MIN_SECRET_LENGTH,
  describeSettings,
  isWeakSecret,
  parseConfig,
} from './config.js';

const STRONG_SECRET = 'k3Yq9vT2xWm8Rz4LpN6sJd1HbF5cGa7E0uQyXo';

/** The problems parseConfig reports for `env`; fails the test when it accepts the env. */
function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    parseConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error(`parseConfig accepted ${JSON.stringify(env)}`);
}

describe('parseConfig defaults', () => {
  const config = parseConfig({}, '1.2.3');

  it('gives every documented default when nothing is set', () => {
    expect(config.app).toEqual({
      name: 'SutazAI Platform API',
      version: '1.2.3',
      environment: 'development',
    });
    expect(config.server).toEqual({
      host: '0.0.0.0',
      port: 8000,
      trustProxy: false,
      bodyLimit: 1048576,
      shutdownTimeoutMs: 30000,
      workers: 1,
      workerRestart: { max: 5, windowMs: 60000 },
      corsOrigins: DEFAULT_CORS_ORIGINS.split(','),
      docsEnabled: true,
    });
    expect(config.log.level).toBe('info');
    expect(config.dataDir).toBe(path.resolve('./data'));
    expect(config.redis).toEqual({ url: undefined, keyPrefix: 'sutazai:' });
    expect(config.auth.jwtSecret).toBeUndefined();
    expect(config.llm.ollamaUrl).toBe('http://127.0.0.1:11434');
  });

  it('defaults to an SQLite file in DATA_DIR with a pool of 10', () => {
    expect(config.db).toEqual({
      dialect: 'sqlite',
      url: `sqlite:${path.resolve('./data/sutazai.db')}`,
      sqlitePath: path.resolve('./data/sutazai.db'),
      poolSize: 10,
      poolTimeoutMs: 30000,
      statementTimeoutMs: 60000,
      checkpointMs: 250,
      migrateOnStart: true,
    });
  });

  it('puts the default SQLite file inside a DATA_DIR that is set', () => {
    const custom = parseConfig({ DATA_DIR: '/srv/sutazai' });
    expect(custom.dataDir).toBe('/srv/sutazai');
    expect(custom.db.sqlitePath).toBe('/srv/sutazai/sutazai.db');
    expect(custom.db.url).toBe('sqlite:/srv/sutazai/sutazai.db');
  });

  it('treats an empty variable as unset and ignores unknown variables', () => {
    const parsed = parseConfig({ PORT: '', LOG_LEVEL: '', PATH: '/usr/bin', SECRET_KEY: 'x', FOO: 'bar' });
    expect(parsed.server.port).toBe(8000);
    expect(parsed.log.level).toBe('info');
    expect(parsed).toEqual(parseConfig({}));
  });
});

describe('parseConfig values', () => {
  it('reads numbers, enums and strings', () => {
    const config = parseConfig({
      HOST: '127.0.0.1',
      PORT: ' 9000 ',
      ENVIRONMENT: 'test',
      LOG_LEVEL: 'debug',
      APP_NAME: 'Other',
      DB_POOL_SIZE: '3',
      SHUTDOWN_TIMEOUT_MS: '0',
      BODY_LIMIT_BYTES: '2048',
    });
    expect(config.server.host).toBe('127.0.0.1');
    expect(config.server.port).toBe(9000);
    expect(config.app.environment).toBe('test');
    expect(config.log.level).toBe('debug');
    expect(config.app.name).toBe('Other');
    expect(config.db.poolSize).toBe(3);
    expect(config.server.shutdownTimeoutMs).toBe(0);
    expect(config.server.bodyLimit).toBe(2048);
  });

  it.each([
    ['false', false],
    ['FALSE', false],
    ['0', false],
    ['true', true],
    ['True', true],
    ['1', true],
  ])('reads the boolean %j as %s', (raw, expected) => {
    const config = parseConfig({ MIGRATE_ON_START: raw, DOCS_ENABLED: raw });
    expect(config.db.migrateOnStart).toBe(expected);
    expect(config.server.docsEnabled).toBe(expected);
  });

  it('selects PostgreSQL for postgres:// and postgresql:// URLs', () => {
    for (const url of ['postgres://u:p@db:5432/app', 'postgresql://u@db/app']) {
      const config = parseConfig({ DATABASE_URL: url, DB_POOL_SIZE: '4' });
      expect(config.db).toMatchObject({ dialect: 'postgres', url, sqlitePath: '', poolSize: 4 });
    }
  });

  it('reads sqlite: URLs as a resolved file path, or :memory:', () => {
    expect(parseConfig({ DATABASE_URL: 'sqlite:./x/app.db' }).db).toMatchObject({
      dialect: 'sqlite',
      sqlitePath: path.resolve('./x/app.db'),
    });
    expect(parseConfig({ DATABASE_URL: 'sqlite:///var/app.db' }).db.sqlitePath).toBe('/var/app.db');
    expect(parseConfig({ DATABASE_URL: 'sqlite::memory:' }).db.sqlitePath).toBe(':memory:');
  });

  it('builds DATABASE_URL from the original POSTGRES_* variables, URL-encoding user and password', () => {
    const config = parseConfig({
      POSTGRES_HOST: 'pg.internal',
      POSTGRES_PORT: '6543',
      POSTGRES_USER: 'jarvis',
      POSTGRES_PASSWORD: 'p@ss:w/rd#?%',
      POSTGRES_DB: 'jarvis_ai',
    });
    expect(config.db.dialect).toBe('postgres');
    expect(config.db.url).toBe('postgres://jarvis:p%40ss%3Aw%2Frd%23%3F%25@pg.internal:6543/jarvis_ai');
    const parsed = new URL(config.db.url);
    expect(decodeURIComponent(parsed.password)).toBe('p@ss:w/rd#?%');
    expect(parsed.hostname).toBe('pg.internal');
    expect(parsed.port).toBe('6543');
  });

  it('uses POSTGRES_* defaults for the parts not set, and no password part without a password', () => {
    expect(parseConfig({ POSTGRES_HOST: 'db' }).db.url).toBe('postgres://postgres@db:5432/sutazai');
  });

  it('prefers DATABASE_URL over the POSTGRES_* fallback', () => {
    const config = parseConfig({ DATABASE_URL: 'sqlite:/tmp/a.db', POSTGRES_HOST: 'db' });
    expect(config.db.dialect).toBe('sqlite');
  });

  it('builds the Ollama URL from OLLAMA_HOST and OLLAMA_PORT when OLLAMA_URL is unset', () => {
    expect(parseConfig({ OLLAMA_HOST: 'ollama', OLLAMA_PORT: '11435' }).llm.ollamaUrl).toBe(
      'http://ollama:11435',
    );
    expect(parseConfig({ OLLAMA_HOST: 'gpu-box' }).llm.ollamaUrl).toBe('http://gpu-box:11434');
    expect(parseConfig({ OLLAMA_HOST: 'https://ollama.example.com/' }).llm.ollamaUrl).toBe(
      'https://ollama.example.com',
    );
    expect(parseConfig({ OLLAMA_URL: 'http://a:1/', OLLAMA_HOST: 'b' }).llm.ollamaUrl).toBe('http://a:1');
  });

  it('reads CORS_ORIGINS as a comma list or a JSON array', () => {
    expect(
      parseConfig({ CORS_ORIGINS: ' https://a.example.com , http://b.example:8080,' }).server.corsOrigins,
    ).toEqual(['https://a.example.com', 'http://b.example:8080']);
    expect(
      parseConfig({ CORS_ORIGINS: '["https://a.example.com", "http://localhost:3000"]' }).server.corsOrigins,
    ).toEqual(['https://a.example.com', 'http://localhost:3000']);
    expect(parseConfig({ CORS_ORIGINS: '*' }).server.corsOrigins).toEqual(['*']);
  });

  it.each([
    ['false', false],
    ['0', false],
    ['true', true],
    ['TRUE', true],
    ['2', 2],
    ['10.0.0.0/8, 127.0.0.1', ['10.0.0.0/8', '127.0.0.1']],
    ['loopback,::1/128,fe80::/10', ['loopback', '::1/128', 'fe80::/10']],
    ['10.0.0.0/255.0.0.0', ['10.0.0.0/255.0.0.0']],
  ])('reads TRUST_PROXY=%j', (raw, expected) => {
    expect(parseConfig({ TRUST_PROXY: raw }).server.trustProxy).toEqual(expected);
  });

  it('accepts several workers with REDIS_URL', () => {
    const config = parseConfig({ WORKERS: '4', REDIS_URL: 'redis://127.0.0.1:6379/0' });
    expect(config.server.workers).toBe(4);
    expect(config.redis.url).toBe('redis://127.0.0.1:6379/0');
  });

  it('accepts a strong JWT secret in production', () => {
    const config = parseConfig({ ENVIRONMENT: 'production', JWT_SECRET_KEY: STRONG_SECRET });
    expect(config.auth.jwtSecret).toBe(STRONG_SECRET);
    expect(config.app.environment).toBe('production');
  });
});

describe('parseConfig refusals', () => {
  it('reports every bad variable at once', () => {
    const problems = problemsOf({ PORT: 'abc', LOG_LEVEL: 'loud', WORKERS: '0' });
    expect(problems).toHaveLength(3);
    expect(problems).toEqual([
      'PORT: must be a whole number from 0 to 65535 (got "abc")',
      'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent (got "loud")',
      'WORKERS: must be a whole number from 1 to 256 (got "0")',
    ]);
  });

  it('reports type errors and cross-setting errors together', () => {
    const problems = problemsOf({
      PORT: 'abc',
      DATABASE_URL: 'mysql://root:hunter2@db/app',
      ENVIRONMENT: 'production',
      CORS_ORIGINS: 'not-an-origin',
    });
    expect(problems.map((p) => p.split(':')[0])).toEqual([
      'PORT',
      'DATABASE_URL',
      'CORS_ORIGINS',
      'JWT_SECRET_KEY',
    ]);
  });

  it('refuses service URLs of the wrong kind without echoing them, and a blank or short METRICS_TOKEN', () => {
    const problems = problemsOf({
      RABBITMQ_URL: 'http://guest:s3cret@host:5672',
      NEO4J_URL: 'garbage',
      CONSUL_URL: 'ftp://consul',
      QDRANT_URL: 'javascript:alert(1)',
      METRICS_TOKEN: ' ',
    });
    // In any order: the health settings are checked in their own function.
    expect([...problems].sort()).toEqual(
      [
        'METRICS_TOKEN: must be at least 16 characters, without spaces (a random value)',
        'RABBITMQ_URL: must be an amqp:// or amqps:// URL',
        'NEO4J_URL: must be a bolt://, neo4j:// (or +s, +ssc) URL',
        'QDRANT_URL: must be an http:// or https:// URL',
        'CONSUL_URL: must be an http:// or https:// URL',
      ].sort(),
    );
    expect(problems.join('\n')).not.toContain('s3cret');
    expect(problemsOf({ METRICS_TOKEN: 'short-token' })).toHaveLength(1);
    expect(() =>
      parseConfig({
        METRICS_TOKEN: 'a'.repeat(16),
        RABBITMQ_URL: 'amqps://u:p@h/v',
        NEO4J_URL: 'neo4j+s://h',
      }),
    ).not.toThrow();
  });

  it('puts every problem in the error message, one per line', () => {
    try {
      parseConfig({ PORT: 'abc', LOG_LEVEL: 'loud' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toBe(
        'Invalid configuration:\n' +
          '  - PORT: must be a whole number from 0 to 65535 (got "abc")\n' +
          '  - LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent (got "loud")',
      );
    }
  });

  it.each(['80.5', '0x10', '1e3', '-1', '65536', '8000abc', '١٢'])(
    'refuses PORT=%j rather than rounding it',
    (raw) => {
      expect(problemsOf({ PORT: raw })).toEqual([
        `PORT: must be a whole number from 0 to 65535 (got ${JSON.stringify(raw)})`,
      ]);
    },
  );

  it('names the range of bounded and unbounded numbers', () => {
    expect(problemsOf({ DB_POOL_SIZE: '0' })).toEqual([
      'DB_POOL_SIZE: must be a whole number from 1 to 1000 (got "0")',
    ]);
    expect(problemsOf({ BODY_LIMIT_BYTES: '10' })).toEqual([
      'BODY_LIMIT_BYTES: must be a whole number of at least 1024 (got "10")',
    ]);
  });

  it.each(['yes', 'nah', 'f'])('refuses the boolean MIGRATE_ON_START=%j', (raw) => {
    expect(problemsOf({ MIGRATE_ON_START: raw })).toEqual([
      `MIGRATE_ON_START: must be true or false (got ${JSON.stringify(raw)})`,
    ]);
  });

  it('refuses an unknown ENVIRONMENT', () => {
    expect(problemsOf({ ENVIRONMENT: 'prod' })).toEqual([
      'ENVIRONMENT: must be one of development, production, test (got "prod")',
    ]);
  });

  it('refuses a DATABASE_URL of another database, naming only its scheme', () => {
    const problems = problemsOf({ DATABASE_URL: 'mysql://root:hunter2@db/app' });
    expect(problems).toEqual(['DATABASE_URL: must start with sqlite: or postgres:// (got a mysql: URL)']);
    expect(problems.join()).not.toContain('hunter2');
    expect(problemsOf({ DATABASE_URL: '/var/lib/app.db' })).toEqual([
      'DATABASE_URL: must start with sqlite: or postgres:// (got no scheme)',
    ]);
  });

  it('refuses a malformed postgres:// URL', () => {
    expect(problemsOf({ DATABASE_URL: 'postgres://u:p@db:notaport/app' })).toEqual([
      'DATABASE_URL: is not a valid postgres:// URL',
    ]);
  });

  it('refuses a REDIS_URL of another scheme', () => {
    expect(problemsOf({ REDIS_URL: 'http://127.0.0.1:6379' })).toEqual([
      'REDIS_URL: must start with redis:// or rediss://',
    ]);
  });

  it('refuses several workers without REDIS_URL, naming REDIS_URL', () => {
    const problems = problemsOf({ WORKERS: '2' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^WORKERS: more than 1 requires REDIS_URL/);
  });

  it('refuses several workers on an in-memory SQLite database', () => {
    expect(problemsOf({ WORKERS: '2', REDIS_URL: 'redis://r', DATABASE_URL: 'sqlite::memory:' })).toEqual([
      'WORKERS: more than 1 cannot share an in-memory SQLite database',
    ]);
  });

  it.each([
    [
      undefined,
      `JWT_SECRET_KEY: must be set in production (a random value of at least ${MIN_SECRET_LENGTH} characters)`,
    ],
    [
      '',
      `JWT_SECRET_KEY: must be set in production (a random value of at least ${MIN_SECRET_LENGTH} characters)`,
    ],
    ['short-secret', `JWT_SECRET_KEY: must be at least ${MIN_SECRET_LENGTH} characters (got 12)`],
    ['change_me_in_production', 'JWT_SECRET_KEY: is a placeholder from a sample config; set a random value'],
    [
      'CHANGE_ME_IN_PRODUCTION_to_a_long_random_value',
      'JWT_SECRET_KEY: is a placeholder from a sample config; set a random value',
    ],
    [
      'your-secret-key-here-0123456789abcdefghij',
      'JWT_SECRET_KEY: is a placeholder from a sample config; set a random value',
    ],
    ['x'.repeat(40), 'JWT_SECRET_KEY: is one character repeated; set a random value'],
  ])('refuses JWT_SECRET_KEY=%j in production', (secret, problem) => {
    expect(problemsOf({ ENVIRONMENT: 'production', JWT_SECRET_KEY: secret })).toEqual([problem]);
  });

  it('never echoes a refused JWT secret', () => {
    const secret = 'change_me_in_production_but_nobody_did';
    expect(problemsOf({ ENVIRONMENT: 'production', JWT_SECRET_KEY: secret }).join()).not.toContain(secret);
  });

  it('leaves JWT_SECRET_KEY unset outside production, and refuses a short one there too', () => {
    expect(parseConfig({ ENVIRONMENT: 'development' }).auth.jwtSecret).toBeUndefined();
    expect(problemsOf({ JWT_SECRET_KEY: 'short' })).toEqual([
      `JWT_SECRET_KEY: must be at least ${MIN_SECRET_LENGTH} characters`,
    ]);
  });

  it.each(['[1,2]', '["https://a.example.com"', '[null]'])('refuses CORS_ORIGINS=%j', (raw) => {
    expect(problemsOf({ CORS_ORIGINS: raw })).toEqual([
      'CORS_ORIGINS: must be a comma-separated list or a JSON array of strings',
    ]);
  });

  it('names each CORS origin that is not an origin', () => {
    expect(
      problemsOf({ CORS_ORIGINS: 'https://ok.example.com,example.com,https://x.example.com/path' }),
    ).toEqual([
      'CORS_ORIGINS: "example.com" is not an origin like https://app.example.com',
      'CORS_ORIGINS: "https://x.example.com/path" is not an origin like https://app.example.com',
    ]);
  });

  it.each(['yes', 'ture', '10.0.0.0/33', '10.0.0.1/8/1', '::1/129', ',', '127.0.0.1,proxy.example.com'])(
    'refuses TRUST_PROXY=%j (Fastify would throw on it at start)',
    (raw) => {
      expect(problemsOf({ TRUST_PROXY: raw })).toEqual([
        `TRUST_PROXY: must be true, false, a hop count or a comma-separated list of IP addresses or CIDRs (got ${JSON.stringify(raw)})`,
      ]);
    },
  );

  it('names the variable an unusable Ollama URL came from', () => {
    expect(problemsOf({ OLLAMA_URL: 'ftp://ollama' })).toEqual([
      'OLLAMA_URL: must make an http(s) URL (got "ftp://ollama")',
    ]);
    expect(problemsOf({ OLLAMA_HOST: 'ollama:11434' })).toEqual([
      'OLLAMA_HOST: must make an http(s) URL (got "http://ollama:11434:11434")',
    ]);
  });
});

describe('isWeakSecret', () => {
  it('accepts a long random secret and refuses short, placeholder and repeated ones', () => {
    expect(isWeakSecret(STRONG_SECRET)).toBe(false);
    expect(isWeakSecret(STRONG_SECRET.slice(0, MIN_SECRET_LENGTH - 1))).toBe(true);
    expect(isWeakSecret('change_me_in_production')).toBe(true);
    expect(isWeakSecret(`${STRONG_SECRET}-changeme`)).toBe(true);
    expect(isWeakSecret('a'.repeat(64))).toBe(true);
  });
});

describe('describeSettings', () => {
  const settings = describeSettings();

  it('lists every setting of the schema, each with a description', () => {
    expect(settings.map((s) => s.name)).toEqual(Object.keys(EnvSchema.properties));
    for (const setting of settings) expect(setting.description.length, setting.name).toBeGreaterThan(10);
  });

  it('shows the defaults as plain text, empty for optional settings', () => {
    const byName = new Map(settings.map((s) => [s.name, s.default]));
    expect(byName.get('HOST')).toBe('0.0.0.0');
    expect(byName.get('PORT')).toBe('8000');
    expect(byName.get('MIGRATE_ON_START')).toBe('true');
    expect(byName.get('DATABASE_URL')).toBe('');
    expect(byName.get('REDIS_URL')).toBe('');
    expect(byName.get('JWT_SECRET_KEY')).toBe('');
  });
});

describe('WebSocket settings', () => {
  it('defaults to the original manager’s limits and heartbeat', () => {
    expect(parseConfig({}).websocket).toEqual({
      maxConnections: 1000,
      maxConnectionsPerUser: 5,
      heartbeatIntervalMs: 30_000,
      heartbeatTimeoutMs: 60_000,
      maxMessageBytes: 65_536,
      messagesPerMinute: 120,
      maxBufferedBytes: 1_048_576,
      authTimeoutMs: 10_000,
      redisLeaseMs: 30_000,
    });
  });

  it('refuses a heartbeat timeout within one interval, and a per-user limit above the total', () => {
    expect(problemsOf({ WS_HEARTBEAT_INTERVAL_MS: '1000', WS_HEARTBEAT_TIMEOUT_MS: '1000' })).toEqual([
      'WS_HEARTBEAT_TIMEOUT_MS: must be above WS_HEARTBEAT_INTERVAL_MS (1000)',
    ]);
    expect(problemsOf({ WS_MAX_CONNECTIONS: '3', WS_MAX_CONNECTIONS_PER_USER: '4' })).toEqual([
      'WS_MAX_CONNECTIONS_PER_USER: must not be above WS_MAX_CONNECTIONS (3)',
    ]);
    expect(problemsOf({ WS_MAX_MESSAGE_BYTES: '10' })[0]).toMatch(/^WS_MAX_MESSAGE_BYTES: must be/);
  });
});
