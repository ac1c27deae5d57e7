import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';

/**
 * Named prepared statements for the statements run over and over (the query templates): Postgres
 * parses and plans such a statement once per connection and then only binds and executes it,
 * where an unnamed statement is parsed and planned again on every request. Only texts registered
 * here are named, so the set stays small and fixed; any other statement runs unnamed.
 */
const names = new Map<string, string>();

/** The name a registered SQL text is prepared under; undefined for any other text. */
export function preparedStatementName(text: string): string | undefined {
  return names.get(text);
}

/** Marks a fixed SQL text as worth preparing. */
export function registerPreparedStatement(text: string): void {
  if (!names.has(text)) names.set(text, `orders_service_${names.size + 1}`);
}

/**
 * The pool as Kysely's PostgresDialect takes it, with each client running registered statements
 * by name. One wrapper per pg client, kept: Kysely keys its connections by client.
 */
export function poolWithPreparedStatements(pool: pg.Pool): PostgresPool {
  const wrappers = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  const wrap = (client: pg.PoolClient): PostgresPoolClient => {
    let wrapper = wrappers.get(client);
    if (!wrapper) {
      wrapper = {
        query(textOrCursor: unknown, parameters?: ReadonlyArray<unknown>) {
          const name = typeof textOrCursor === 'string' ? preparedStatementName(textOrCursor) : undefined;
          if (name !== undefined) return client.query({ name, text: textOrCursor as string, values: [...parameters!] });
          return client.query(textOrCursor as string, parameters as unknown[]);
        },
        release: () => client.release(),
      } as unknown as PostgresPoolClient;
      wrappers.set(client, wrapper);
    }
    return wrapper;
  };
  return {
    connect: async () => wrap(await pool.connect()),
    end: () => pool.end(),
  };
}
