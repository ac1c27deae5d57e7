import type { CompiledQuery, QueryResult } from 'kysely';
import { templateRunnerOf } from './pooled-statements.js';
import { registerPreparedStatement } from './prepared-statements.js';
import type { Executor } from './schema.js';

/** A query builder or an sql`…` template: both compile against an executor. */
interface Compiles<Row> {
  compile(db: Executor): CompiledQuery<Row>;
}

/** Stands in for argument `index` while the query is compiled once. */
class Placeholder {
  constructor(readonly index: number) {}
}

/** Where each parameter of the compiled query comes from: an argument, or a value fixed in the query. */
type ParameterSource = { argument: number } | { fixed: unknown };

/**
 * A Kysely query built and compiled once, then executed with new argument values: the same SQL
 * text every time, so no per-request query building or compiling, and on Postgres a named prepared
 * statement (see prepared-statements.ts). `build` receives stand-ins for the arguments and may use
 * each only as a bound value (`${value}` in sql`…`, a comparison value, a limit), never to shape the query: a query
 * whose shape varies is one template per shape. An argument the shape does not use is ignored.
 * Plugins that rewrite queries act at that one compilation (the service has none). A stand-in is
 * one value: in a builder's `in` comparison it does not expand into a list (use `= ANY(${x})`).
 * On the Postgres server, outside a transaction, the compiled statement runs on the pool directly
 * (pooled-statements.ts); in a transaction and on PGlite, through Kysely.
 */
export class QueryTemplate<Args extends readonly unknown[], Row> {
  private compiled: CompiledQuery<Row> | undefined;
  private sources: ParameterSource[] = [];

  constructor(
    private readonly arity: Args['length'],
    private readonly build: (db: Executor, ...args: Args) => Compiles<Row>,
  ) {}

  execute(db: Executor, ...args: Args): Promise<QueryResult<Row>> {
    const compiled = this.compiled ?? this.compile(db);
    const sources = this.sources;
    const parameters = new Array<unknown>(sources.length);
    for (let i = 0; i < sources.length; i++) {
      const source = sources[i]!;
      parameters[i] = 'argument' in source ? args[source.argument] : source.fixed;
    }
    const run = templateRunnerOf(db);
    return run ? run<Row>(compiled.sql, parameters) : db.executeQuery<Row>({ ...compiled, parameters });
  }

  private compile(db: Executor): CompiledQuery<Row> {
    const placeholders = Array.from({ length: this.arity }, (_, index) => new Placeholder(index)) as unknown as Args;
    const compiled = this.build(db, ...placeholders).compile(db);
    this.sources = compiled.parameters.map((value) => {
      if (value instanceof Placeholder) return { argument: value.index };
      // An argument beyond `arity` compiles as undefined and would be bound as NULL for ever.
      if (value === undefined) throw new Error(`a query template uses more arguments than its arity (${this.arity})`);
      return { fixed: value };
    });
    this.compiled = compiled;
    // The same text on every execution: worth a named prepared statement (on Postgres, when enabled).
    registerPreparedStatement(compiled.sql);
    return compiled;
  }
}
