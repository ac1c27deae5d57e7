import type { QueryResult } from 'kysely';
import type pg from 'pg';
import { preparedStatementName } from './prepared-statements.js';
import type { Executor } from './schema.js';

/** Runs one compiled statement (its SQL text and parameters) and answers as Kysely would. */
export type StatementRunner = <Row>(sql: string, parameters: readonly unknown[]) => Promise<QueryResult<Row>>;

const runners = new WeakMap<Executor, StatementRunner>();

/**
 * The query templates' statements, run straight on the `pg` pool under a Kysely instance instead of
 * through Kysely's executor. Kysely still builds and compiles them (once, src/db/query-template.ts);
 * what is skipped is only the executor's chain between a compiled query and `client.query`: about
 * ten async functions (executor, connection provider, runtime driver, driver, connection) and two
 * copies of the parameters. Measured on the free-windows statement, 20,000 runs ten at a time, this
 * process's CPU: 31.5 → 29.2 µs a statement (the client side of a statement is mostly the socket
 * write). The connection is taken, used and given back exactly as Kysely's
 * PostgresDriver does (released without the error, so a refused statement does not close it).
 *
 * Only the Kysely instance registered here runs directly: a transaction, a `withPlugin` copy (the
 * tests' statement counter) or PGlite is not registered and keeps Kysely's path.
 */
export function runTemplatesOnPool(db: Executor, pool: pg.Pool, { prepared }: { prepared: boolean }): void {
  runners.set(db, async <Row>(sql: string, parameters: readonly unknown[]): Promise<QueryResult<Row>> => {
    const name = prepared ? preparedStatementName(sql) : undefined;
    const values = parameters as unknown[];
    const client = await pool.connect();
    try {
      const result = await client.query<Row & pg.QueryResultRow>(
        name === undefined ? { text: sql, values } : { name, text: sql, values },
      );
      return WRITES.has(result.command)
        ? { rows: result.rows, numAffectedRows: BigInt(result.rowCount ?? 0) }
        : { rows: result.rows };
    } finally {
      client.release();
    }
  });
}

/** The commands whose affected rows Kysely reports (PostgresConnection). */
const WRITES = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE']);

/** How `db` runs a template's statement directly, or undefined: then through Kysely. */
export function templateRunnerOf(db: Executor): StatementRunner | undefined {
  return runners.get(db);
}
