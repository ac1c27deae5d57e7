import t from 'tap';
import { ConfigError, defaultHttpSettings, loadConfig } from '../../src/config.js';

// Removed from this process as well, so a test proves loadConfig ignores process.env only where it says so.
for (const name of [
  'PORT',
  'HOST',
  'DATABASE_URL',
  'PGLITE_DATA_DIR',
  'LOG_LEVEL',
  'RATE_LIMIT_PER_MINUTE',
  'API_KEY_CACHE_SECONDS',
  'TRUSTED_PROXY_HOPS',
  'CORS_ORIGINS',
  'WORKERS',
  'SHUTDOWN_GRACE_SECONDS',
  'HEADERS_TIMEOUT_SECONDS',
  'REQUEST_TIMEOUT_SECONDS',
  'MAX_CONNECTIONS',
  'EVENT_RETENTION_DAYS',
]) {
  delete process.env[name];
}

const postgres = 'postgres://orders@db.internal:5432/orders';

/** The ConfigError `env` is refused with; fails the test if it is accepted or fails otherwise. */
function refusal(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`);
}

t.test('without any variable: the defaults, on embedded PGlite', async (t) => {
  t.strictSame(loadConfig({}), {
    port: 3000,
    host: '127.0.0.1',
    databaseUrl: undefined,
    pgliteDataDir: './.data',
    preparedStatements: true,
    pooler: 'none',
    logLevel: 'info',
    workers: 1,
    shutdownGraceMs: 10_000,
    eventRetentionDays: 30,
    http: {
      rateLimitPerMinute: 1200,
      apiKeyCacheSeconds: 10,
      corsOrigins: [],
      trustedProxyHops: 0,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      maxConnections: 2_000,
    },
  });
});

t.test('the default HTTP settings are the ones an empty environment gives', async (t) => {
  t.strictSame(loadConfig({}).http, defaultHttpSettings);
});

t.test('every variable is read into its setting, seconds as milliseconds', async (t) => {
  t.strictSame(
    loadConfig({
      PORT: '8080',
      HOST: '0.0.0.0',
      DATABASE_URL: postgres,
      DATABASE_PREPARED_STATEMENTS: 'false',
      PGLITE_DATA_DIR: 'memory://',
      LOG_LEVEL: 'warn',
      WORKERS: '4',
      SHUTDOWN_GRACE_SECONDS: '3',
      RATE_LIMIT_PER_MINUTE: '0',
      API_KEY_CACHE_SECONDS: '1',
      CORS_ORIGINS: 'https://a.example,http://b.example:8080',
      TRUSTED_PROXY_HOPS: '1',
      HEADERS_TIMEOUT_SECONDS: '2',
      REQUEST_TIMEOUT_SECONDS: '3',
      MAX_CONNECTIONS: '50',
      EVENT_RETENTION_DAYS: '7',
    }),
    {
      port: 8080,
      host: '0.0.0.0',
      databaseUrl: postgres,
      pgliteDataDir: 'memory://',
      preparedStatements: false,
      pooler: 'none',
      logLevel: 'warn',
      workers: 4,
      shutdownGraceMs: 3_000,
      eventRetentionDays: 7,
      http: {
        rateLimitPerMinute: 0,
        apiKeyCacheSeconds: 1,
        corsOrigins: ['https://a.example', 'http://b.example:8080'],
        trustedProxyHops: 1,
        headersTimeoutMs: 2_000,
        requestTimeoutMs: 3_000,
        maxConnections: 50,
      },
    },
  );
});

t.test('an empty variable means unset: its default applies', async (t) => {
  t.strictSame(
    loadConfig({
      PORT: '',
      HOST: '',
      DATABASE_URL: '',
      LOG_LEVEL: '',
      CORS_ORIGINS: '',
      WORKERS: '',
      PGLITE_DATA_DIR: '',
    }),
    loadConfig({}),
  );
});

t.test('variables the service does not know are ignored', async (t) => {
  t.strictSame(loadConfig({ DATABASE_URL_UNUSED: 'x', PATH: '/usr/bin', HOME: '/root' }), loadConfig({}));
});

t.test('DATABASE_URL must be a postgres:// or postgresql:// URL', async (t) => {
  t.equal(loadConfig({ DATABASE_URL: 'postgresql://u@h/db' }).databaseUrl, 'postgresql://u@h/db');
  t.equal(
    refusal({ DATABASE_URL: 'mysql://u@h/db' }).message,
    'Invalid configuration: env/DATABASE_URL must match pattern "^postgres(ql)?://"',
  );
});

t.test('more than one worker needs a Postgres server: the embedded database serves one process', async (t) => {
  t.equal(
    refusal({ WORKERS: '2' }).message,
    'Invalid configuration: WORKERS > 1 needs DATABASE_URL (the embedded database serves one process)',
  );
  t.equal(refusal({ WORKERS: '2', DATABASE_URL: '' }).name, 'ConfigError', 'an empty DATABASE_URL is none');
  t.equal(loadConfig({ WORKERS: '64', DATABASE_URL: postgres }).workers, 64);
});

t.test('the header deadline must not exceed the whole-request deadline', async (t) => {
  t.equal(
    refusal({ HEADERS_TIMEOUT_SECONDS: '40' }).message,
    'Invalid configuration: HEADERS_TIMEOUT_SECONDS must not exceed REQUEST_TIMEOUT_SECONDS',
  );
  t.equal(refusal({ HEADERS_TIMEOUT_SECONDS: '11', REQUEST_TIMEOUT_SECONDS: '10' }).name, 'ConfigError');
  t.equal(loadConfig({ HEADERS_TIMEOUT_SECONDS: '30' }).http.headersTimeoutMs, 30_000, 'equal is allowed');
});

t.test('CORS_ORIGINS is a comma-separated list of http(s) origins', async (t) => {
  t.strictSame(loadConfig({ CORS_ORIGINS: 'https://a.example' }).http.corsOrigins, ['https://a.example']);
  t.strictSame(loadConfig({ CORS_ORIGINS: 'https://a.example,http://localhost:5173' }).http.corsOrigins, [
    'https://a.example',
    'http://localhost:5173',
  ]);
  const message =
    'Invalid configuration: env/CORS_ORIGINS must match pattern "^(https?://[^,\\s]+)(,https?://[^,\\s]+)*$"';
  for (const value of [
    '*',
    'a.example',
    'https://a.example, https://b.example',
    'https://a.example,',
    ',https://a.example',
    'ftp://a.example',
  ]) {
    t.equal(refusal({ CORS_ORIGINS: value }).message, message, JSON.stringify(value));
  }
});

t.test('a number out of its range is refused with a message naming the variable and the bound', async (t) => {
  const cases: [NodeJS.ProcessEnv, string][] = [
    [{ PORT: '70000' }, 'env/PORT must be <= 65535'],
    [{ PORT: '-1' }, 'env/PORT must be >= 0'],
    [{ WORKERS: '0', DATABASE_URL: postgres }, 'env/WORKERS must be >= 1'],
    [{ WORKERS: '65', DATABASE_URL: postgres }, 'env/WORKERS must be <= 64'],
    [{ RATE_LIMIT_PER_MINUTE: '-1' }, 'env/RATE_LIMIT_PER_MINUTE must be >= 0'],
    [{ API_KEY_CACHE_SECONDS: '3601' }, 'env/API_KEY_CACHE_SECONDS must be <= 3600'],
    [{ TRUSTED_PROXY_HOPS: '11' }, 'env/TRUSTED_PROXY_HOPS must be <= 10'],
    [{ SHUTDOWN_GRACE_SECONDS: '0' }, 'env/SHUTDOWN_GRACE_SECONDS must be >= 1'],
    [{ HEADERS_TIMEOUT_SECONDS: '0' }, 'env/HEADERS_TIMEOUT_SECONDS must be >= 1'],
    [{ REQUEST_TIMEOUT_SECONDS: '3601' }, 'env/REQUEST_TIMEOUT_SECONDS must be <= 3600'],
    [{ MAX_CONNECTIONS: '0' }, 'env/MAX_CONNECTIONS must be >= 1'],
    [{ EVENT_RETENTION_DAYS: '0' }, 'env/EVENT_RETENTION_DAYS must be >= 1'],
  ];
  for (const [env, message] of cases)
    t.equal(refusal(env).message, `Invalid configuration: ${message}`, JSON.stringify(env));
});

t.test('a value of the wrong kind is refused, naming the variable', async (t) => {
  t.equal(refusal({ PORT: 'http' }).message, 'Invalid configuration: env/PORT must be integer');
  t.equal(refusal({ PORT: '80.5' }).message, 'Invalid configuration: env/PORT must be integer');
  t.equal(
    refusal({ LOG_LEVEL: 'verbose' }).message,
    'Invalid configuration: env/LOG_LEVEL must be equal to one of the allowed values',
  );
});

t.test('every log level pino knows is accepted', async (t) => {
  for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    t.equal(loadConfig({ LOG_LEVEL: level }).logLevel, level);
});

t.test('a refusal is a ConfigError, an Error named ConfigError', async (t) => {
  const error = refusal({ PORT: '70000' });
  t.ok(error instanceof Error);
  t.equal(error.name, 'ConfigError');
});

t.test('the env object given is the whole configuration: process.env is not merged in underneath', async (t) => {
  process.env.PORT = '8081';
  process.env.DATABASE_URL = 'not a url';
  t.teardown(() => {
    delete process.env.PORT;
    delete process.env.DATABASE_URL;
  });
  const config = loadConfig({ HOST: '0.0.0.0' });
  t.equal(config.port, 3000, 'PORT from process.env is not read');
  t.equal(config.databaseUrl, undefined, 'nor DATABASE_URL');
  t.equal(
    loadConfig({ DATABASE_URL: '' }).databaseUrl,
    undefined,
    'an empty DATABASE_URL is unset, even with one in process.env',
  );
});

t.test('an integer is plain decimal digits: hex, exponents and padding are refused, naming the variable', async (t) => {
  for (const value of ['0x50', '1e3', ' 80', '80 ', '+80', '0b1']) {
    t.equal(
      refusal({ PORT: value }).message,
      `Invalid configuration: PORT must be an integer in decimal digits (got ${JSON.stringify(value)})`,
      JSON.stringify(value),
    );
  }
  t.equal(loadConfig({ PORT: '080' }).port, 80, 'leading zeros are still decimal');
});

t.test(
  'behind a transaction pooler named prepared statements are off unless asked for (PgBouncer keeps them only from 1.21)',
  async (t) => {
    t.equal(loadConfig({ DATABASE_POOLER: 'transaction' }).pooler, 'transaction');
    t.equal(loadConfig({ DATABASE_POOLER: 'transaction' }).preparedStatements, false);
    t.equal(
      loadConfig({ DATABASE_POOLER: 'transaction', DATABASE_PREPARED_STATEMENTS: 'true' }).preparedStatements,
      true,
    );
    t.equal(loadConfig({ DATABASE_POOLER: 'none' }).preparedStatements, true);
    t.equal(
      refusal({ DATABASE_POOLER: 'session' }).message,
      'Invalid configuration: env/DATABASE_POOLER must be equal to one of the allowed values',
    );
  },
);

t.test('named prepared statements are on unless DATABASE_PREPARED_STATEMENTS=false', async (t) => {
  t.equal(loadConfig({}).preparedStatements, true);
  t.equal(loadConfig({ DATABASE_PREPARED_STATEMENTS: 'true' }).preparedStatements, true);
  t.equal(loadConfig({ DATABASE_PREPARED_STATEMENTS: 'false' }).preparedStatements, false);
  t.equal(
    refusal({ DATABASE_PREPARED_STATEMENTS: 'off' }).message,
    'Invalid configuration: env/DATABASE_PREPARED_STATEMENTS must be equal to one of the allowed values',
  );
});
