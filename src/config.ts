import envSchema from 'env-schema';

/** Everything the process reads from its environment, validated once at start-up. */
export interface Config {
  port: number;
  host: string;
  /** Postgres server connection string; when absent the service runs on embedded PGlite. */
  databaseUrl: string | undefined;
  /** PGlite data directory (or `memory://`), used only without `databaseUrl`. */
  pgliteDataDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const schema = {
  type: 'object',
  properties: {
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 3000 },
    HOST: { type: 'string', minLength: 1, default: '127.0.0.1' },
    DATABASE_URL: { type: 'string', pattern: '^postgres(ql)?://' },
    PGLITE_DATA_DIR: { type: 'string', minLength: 1, default: './.data' },
    LOG_LEVEL: {
      type: 'string',
      enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info',
    },
  },
} as const;

interface RawEnv {
  PORT: number;
  HOST: string;
  DATABASE_URL?: string;
  PGLITE_DATA_DIR: string;
  LOG_LEVEL: Config['logLevel'];
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty variable means "not set", as in most shells' `VAR= cmd` usage.
  const data = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  let raw: RawEnv;
  try {
    raw = envSchema<RawEnv>({ schema, data, dotenv: false });
  } catch (error) {
    throw new ConfigError(`Invalid configuration: ${(error as Error).message}`);
  }
  return {
    port: raw.PORT,
    host: raw.HOST,
    databaseUrl: raw.DATABASE_URL,
    pgliteDataDir: raw.PGLITE_DATA_DIR,
    logLevel: raw.LOG_LEVEL,
  };
}
