import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

// Behind a pooler in transaction mode, consecutive transactions of one client may run on different
// server connections, so nothing may rely on state that outlives a transaction. The SQL in src/ and
// migrations/ is read for every construct that would: anything found here needs a design that
// holds behind PgBouncer (docs/operations.md), not a pass.

const root = fileURLToPath(new URL('../../..', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
}

const sessionState: [string, RegExp][] = [
  ['a session-level advisory lock (use pg_advisory_xact_lock)', /pg_(try_)?advisory_lock(_shared)?\s*\(/i],
  ['LISTEN/UNLISTEN (notifications go to one server connection)', /\b(UN)?LISTEN\s+[a-z_"]/i],
  [
    'a session SET (use SET LOCAL, or a database/role setting)',
    /[`'";]\s*SET\s+(SESSION\s+)?(?!LOCAL\b)[a-z_]+\s*(=|TO\b)/i,
  ],
  ['set_config for the session (is_local false)', /set_config\s*\([^)]*,\s*false\s*\)/i],
  ['a temporary table', /\bCREATE\s+(GLOBAL\s+|LOCAL\s+)?TEMP(ORARY)?\s+TABLE\b/i],
  ['a SQL-level PREPARE or a cursor held WITH HOLD', /(^|[`;]\s*)PREPARE\s+\w+|\bWITH\s+HOLD\b/im],
];

t.test('no SQL in src/ or migrations/ keeps state in the session', async (t) => {
  const files = [...sources('src'), ...sources('migrations')];
  t.ok(files.length > 20, `read ${files.length} files`);
  const found: string[] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const [what, pattern] of sessionState) {
      if (pattern.test(text)) found.push(`${file.slice(root.length)}: ${what}`);
    }
  }
  t.same(found, [], 'none found');
});

t.test('the patterns find what they are for', async (t) => {
  const caught = (text: string) => sessionState.filter(([, pattern]) => pattern.test(text)).map(([what]) => what);
  t.equal(caught('sql`SELECT pg_advisory_lock(1)`').length, 1);
  t.equal(caught('sql`SELECT pg_try_advisory_lock(1, 2)`').length, 1);
  t.equal(caught('sql`LISTEN order_events`').length, 1);
  t.equal(caught("sql`SET statement_timeout = '5s'`").length, 1);
  t.equal(caught('sql`SET SESSION TimeZone TO UTC`').length, 1);
  t.equal(caught("SELECT set_config('x', '1', false)").length, 1);
  t.equal(caught('CREATE TEMP TABLE t (id int)').length, 1);
  t.equal(caught('sql`PREPARE q AS SELECT 1`').length, 1);
  t.same(caught('sql`SELECT pg_advisory_xact_lock(1)`'), [], 'a transaction-scoped lock is fine');
  t.same(caught('sql`SET LOCAL statement_timeout = 0`'), [], 'SET LOCAL is fine');
  t.same(caught('UPDATE orders SET datetime = $1'), [], 'an UPDATE … SET is not a session SET');
  t.same(caught('sql`UPDATE orders\n  SET datetime = $1`'), [], 'nor on a line of its own');
  t.same(caught("SELECT set_config('lock_timeout', '1', true)"), [], 'a local set_config is fine');
});
