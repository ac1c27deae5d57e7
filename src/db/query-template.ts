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
export type ParameterSource = { argument: number } | { fixed: unknown };

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
    const built = this.build(db, ...placeholders).compile(db);
    const sources = built.parameters.map((value): ParameterSource => {
      if (value instanceof Placeholder) return { argument: value.index };
      // An argument beyond `arity` compiles as undefined and would be bound as NULL for ever.
      if (value === undefined) throw new Error(`a query template uses more arguments than its arity (${this.arity})`);
      return { fixed: value };
    });
    const { sql: text, sources: shared } = oneParameterPerArgument(built.sql, sources);
    this.sources = shared;
    const compiled: CompiledQuery<Row> = { ...built, sql: text, parameters: shared.map(() => undefined) };
    this.compiled = compiled;
    // The same text on every execution: worth a named prepared statement (on Postgres, when enabled).
    registerPreparedStatement(compiled.sql);
    return compiled;
  }
}

const PARAMETER = /\$(\d+)/g;

/**
 * Kysely numbers every bound value in order ($1, $2, …), so an argument used in six places is six
 * parameters, each sent, then converted by Postgres on every execution (a timestamptz's text
 * parsed six times: about 4 µs of the database's CPU per free-time statement, measured). Here
 * every use of one argument becomes the same `$n`. The SQL text is renumbered only when its `$n`
 * are exactly Kysely's, each once and in order (no `$` elsewhere, as in a string literal);
 * otherwise it is left as compiled. Fixed values keep a parameter each.
 */
export function oneParameterPerArgument(
  text: string,
  sources: readonly ParameterSource[],
): { sql: string; sources: ParameterSource[] } {
  const numbers = [...text.matchAll(PARAMETER)].map((match) => Number(match[1]));
  if (numbers.length !== sources.length || numbers.some((n, i) => n !== i + 1)) {
    return { sql: text, sources: [...sources] };
  }
  const shared: ParameterSource[] = [];
  const numberOfArgument = new Map<number, number>();
  const renumbered = sources.map((source) => {
    if ('argument' in source) {
      const known = numberOfArgument.get(source.argument);
      if (known !== undefined) return known;
      numberOfArgument.set(source.argument, shared.length + 1);
    }
    shared.push(source);
    return shared.length;
  });
  return { sql: text.replace(PARAMETER, (_, n: string) => `$${renumbered[Number(n) - 1]!}`), sources: shared };
}
