import envSchema from 'env-schema';

/** Everything the process reads from its environment, validated once at start-up. */
export interface Config {
  port: number;
  host: string;
  /** Postgres server connection string; when absent the service runs on embedded PGlite. */
  databaseUrl: string | undefined;
  /** PGlite data directory (or `memory://`), used only without `databaseUrl`. */
  pgliteDataDir: string;
  /** Named prepared statements on the Postgres server; off behind a pooler that cannot keep them. */
  preparedStatements: boolean;
  /** What sits between the service and Postgres: nothing, or a pooler in transaction mode. */
  pooler: 'none' | 'transaction';
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Server processes on this machine (node:cluster); more than one needs a Postgres server. */
  workers: number;
  /** How long SIGTERM waits for in-flight requests before the process gives up and exits 1. */
  shutdownGraceMs: number;
  /** How long the change feed keeps events; a cursor older than that is refused (410). */
  eventRetentionDays: number;
  http: HttpSettings;
}

/** Settings of the HTTP layer, also what tests vary. */
export interface HttpSettings {
  /** Requests per minute per API key (or per client address without a key); 0 turns limiting off. */
  rateLimitPerMinute: number;
  /** How long a verified API key is trusted before it is checked again (the revocation delay). */
  apiKeyCacheSeconds: number;
  /** Origins allowed by CORS; empty means CORS is off. */
  corsOrigins: string[];
  /**
   * How many proxies in front of the service to trust for the client address (X-Forwarded-For),
   * which keyless rate limiting counts by; 0 trusts none.
   */
  trustedProxyHops: number;
  /** A client must finish sending its headers within this time (slowloris). */
  headersTimeoutMs: number;
  /** A client must finish sending its whole request within this time. */
  requestTimeoutMs: number;
  /** Open connections per process beyond which new ones are dropped at once. */
  maxConnections: number;
}

export const defaultHttpSettings: HttpSettings = {
  rateLimitPerMinute: 1200,
  apiKeyCacheSeconds: 10,
  corsOrigins: [],
  trustedProxyHops: 0,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  maxConnections: 2_000,
};

export const defaultEventRetentionDays = 30;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const schema = {
  type: 'object',
  properties: {
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 3000 },
    HOST: { type: 'string', minLength: 1, default: '127.0.0.1' },
    DATABASE_URL: { type: 'string', pattern: '^postgres(ql)?://' },
    // Unset: on, but off behind a transaction pooler (PgBouncer keeps them only from 1.21 on).
    DATABASE_PREPARED_STATEMENTS: { type: 'string', enum: ['true', 'false'] },
    DATABASE_POOLER: { type: 'string', enum: ['none', 'transaction'], default: 'none' },
    PGLITE_DATA_DIR: { type: 'string', minLength: 1, default: './.data' },
    LOG_LEVEL: {
      type: 'string',
      enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info',
    },
    RATE_LIMIT_PER_MINUTE: { type: 'integer', minimum: 0, default: defaultHttpSettings.rateLimitPerMinute },
    API_KEY_CACHE_SECONDS: {
      type: 'integer',
      minimum: 0,
      maximum: 3600,
      default: defaultHttpSettings.apiKeyCacheSeconds,
    },
    TRUSTED_PROXY_HOPS: { type: 'integer', minimum: 0, maximum: 10, default: 0 },
    CORS_ORIGINS: { type: 'string', pattern: '^(https?://[^,\\s]+)(,https?://[^,\\s]+)*$' },
    WORKERS: { type: 'integer', minimum: 1, maximum: 64, default: 1 },
    SHUTDOWN_GRACE_SECONDS: { type: 'integer', minimum: 1, maximum: 600, default: 10 },
    HEADERS_TIMEOUT_SECONDS: {
      type: 'integer',
      minimum: 1,
      maximum: 600,
      default: defaultHttpSettings.headersTimeoutMs / 1000,
    },
    REQUEST_TIMEOUT_SECONDS: {
      type: 'integer',
      minimum: 1,
      maximum: 3600,
      default: defaultHttpSettings.requestTimeoutMs / 1000,
    },
    MAX_CONNECTIONS: { type: 'integer', minimum: 1, maximum: 1_000_000, default: defaultHttpSettings.maxConnections },
    EVENT_RETENTION_DAYS: { type: 'integer', minimum: 1, maximum: 3650, default: defaultEventRetentionDays },
  },
} as const;

interface RawEnv {
  PORT: number;
  HOST: string;
  DATABASE_URL?: string;
  DATABASE_PREPARED_STATEMENTS?: 'true' | 'false';
  DATABASE_POOLER: 'none' | 'transaction';
  PGLITE_DATA_DIR: string;
  LOG_LEVEL: Config['logLevel'];
  RATE_LIMIT_PER_MINUTE: number;
  API_KEY_CACHE_SECONDS: number;
  CORS_ORIGINS?: string;
  TRUSTED_PROXY_HOPS: number;
  WORKERS: number;
  SHUTDOWN_GRACE_SECONDS: number;
  HEADERS_TIMEOUT_SECONDS: number;
  REQUEST_TIMEOUT_SECONDS: number;
  MAX_CONNECTIONS: number;
  EVENT_RETENTION_DAYS: number;
}

/** Ajv would read PORT=0x50 as 80 and 1e3 as 1000: integers are plain decimal digits. */
function refuseLooseIntegers(data: Record<string, string | undefined>): void {
  for (const [name, property] of Object.entries(schema.properties)) {
    const value = data[name];
    const loose = value !== undefined && !/^-?\d+$/.test(value) && Number.isInteger(Number(value));
    if (property.type === 'integer' && loose) {
      throw new ConfigError(
        `Invalid configuration: ${name} must be an integer in decimal digits (got ${JSON.stringify(value)})`,
      );
    }
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty variable means "not set", as in most shells' `VAR= cmd` usage.
  const data = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  refuseLooseIntegers(data);
  let raw: RawEnv;
  try {
    // env: false, or env-schema would merge process.env back in under the given values.
    raw = envSchema<RawEnv>({ schema, data, dotenv: false, env: false });
  } catch (error) {
    throw new ConfigError(`Invalid configuration: ${(error as Error).message}`);
  }
  if (raw.WORKERS > 1 && !raw.DATABASE_URL) {
    throw new ConfigError(
      'Invalid configuration: WORKERS > 1 needs DATABASE_URL (the embedded database serves one process)',
    );
  }
  if (raw.HEADERS_TIMEOUT_SECONDS > raw.REQUEST_TIMEOUT_SECONDS) {
    throw new ConfigError('Invalid configuration: HEADERS_TIMEOUT_SECONDS must not exceed REQUEST_TIMEOUT_SECONDS');
  }
  return {
    port: raw.PORT,
    host: raw.HOST,
    databaseUrl: raw.DATABASE_URL,
    pgliteDataDir: raw.PGLITE_DATA_DIR,
    preparedStatements: (raw.DATABASE_PREPARED_STATEMENTS ?? String(raw.DATABASE_POOLER === 'none')) === 'true',
    pooler: raw.DATABASE_POOLER,
    logLevel: raw.LOG_LEVEL,
    workers: raw.WORKERS,
    shutdownGraceMs: raw.SHUTDOWN_GRACE_SECONDS * 1000,
    eventRetentionDays: raw.EVENT_RETENTION_DAYS,
    http: {
      rateLimitPerMinute: raw.RATE_LIMIT_PER_MINUTE,
      apiKeyCacheSeconds: raw.API_KEY_CACHE_SECONDS,
      corsOrigins: raw.CORS_ORIGINS ? raw.CORS_ORIGINS.split(',') : [],
      trustedProxyHops: raw.TRUSTED_PROXY_HOPS,
      headersTimeoutMs: raw.HEADERS_TIMEOUT_SECONDS * 1000,
      requestTimeoutMs: raw.REQUEST_TIMEOUT_SECONDS * 1000,
      maxConnections: raw.MAX_CONNECTIONS,
    },
  };
}
