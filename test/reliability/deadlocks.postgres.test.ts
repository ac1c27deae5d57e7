import t from 'tap';
import { sql } from 'kysely';
import pg from 'pg';
import { countRows, storedServiceIds } from '../helpers/database.js';
import { orderBody, seedCatalogue } from '../helpers/fixtures.js';
import { directUrl } from '../helpers/pgbouncer.js';
import { startService } from '../helpers/service.js';

// Concurrent inserters on an exclusion constraint can deadlock (SQLSTATE 40P01) or fail
// serialization (40001). Such a failure is retried a bounded number of times and, if it persists,
// answered 503 (a problem with Retry-After), never 500; and a failed write leaves nothing behind.
//
// The service queues writers per 3-hour bucket (advisory locks), so a natural deadlock is hard to
// provoke through HTTP. The real errors are injected in the real database instead: a trigger on
// `orders` raises the chosen SQLSTATE for the first N write attempts (or for all of them), and
// counts every attempt in a sequence, which no rollback undoes. The last test provokes a genuine
// deadlock on the constraint with two raw transactions, to show what the bucket locks prevent.
//
// The file needs a Postgres server (the last test opens raw connections), so `make test-pglite`
// leaves it out: the retry of 40P01/40001 and the 503 after it are proven by the Postgres run
// only, and every test name says so.
const POSTGRES_RUN_ONLY = ' (Postgres run only: the PGlite run leaves this file out)';

const { client, db, target } = await startService(t);
await seedCatalogue(db);

/** The `t` a subtest callback receives. */
type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

type TransientState = '40P01' | '40001';

await sql`CREATE SEQUENCE fault_attempts`.execute(db);
// failures < 0: every attempt fails.
await sql`CREATE TABLE fault_plan (sqlstate text NOT NULL, failures integer NOT NULL)`.execute(db);
await sql`
  CREATE FUNCTION inject_fault() RETURNS trigger LANGUAGE plpgsql AS $$
  DECLARE
    plan fault_plan;
    attempt bigint;
  BEGIN
    SELECT * INTO plan FROM fault_plan;
    IF NOT FOUND THEN RETURN NEW; END IF;
    attempt := nextval('fault_attempts');
    IF plan.failures < 0 OR attempt <= plan.failures THEN
      RAISE EXCEPTION 'injected fault on write attempt %', attempt USING ERRCODE = plan.sqlstate;
    END IF;
    RETURN NEW;
  END $$`.execute(db);
await sql`CREATE TRIGGER orders_fault BEFORE INSERT OR UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION inject_fault()`.execute(
  db,
);

/** From now on the first `failures` write attempts on `orders` fail with `sqlstate` ('always': all). */
async function injectFaults(sqlstate: TransientState, failures: number | 'always'): Promise<void> {
  await sql`DELETE FROM fault_plan`.execute(db);
  await sql`INSERT INTO fault_plan VALUES (${sqlstate}, ${failures === 'always' ? -1 : failures})`.execute(db);
  await sql`SELECT setval('fault_attempts', 1, false)`.execute(db);
}

async function clearFaults(): Promise<void> {
  await sql`DELETE FROM fault_plan`.execute(db);
}

/** Write attempts (INSERT or UPDATE of an order row) since the faults were injected. */
async function attempts(): Promise<number> {
  const { rows } = await sql<{
    n: string;
  }>`SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS n FROM fault_attempts`.execute(db);
  return Number(rows[0]!.n);
}

async function storedOrder(id: string) {
  const row = await db.selectFrom('orders').selectAll().where('id', '=', id).executeTakeFirst();
  return row && { ...row, services: await storedServiceIds(db, id) };
}

function essentials(order: Awaited<ReturnType<typeof storedOrder>>) {
  return (
    order && {
      datetime: order.datetime,
      totalfee: order.totalfee,
      version: order.version,
      services: order.services,
    }
  );
}

async function ordersAt(datetime: string): Promise<string[]> {
  const rows = await db
    .selectFrom('orders')
    .select(sql<string>`id::text`.as('id'))
    .where('datetime', '=', sql<string>`${datetime}::timestamptz`)
    .execute();
  return rows.map((r) => r.id);
}

async function idempotencyKeysStored(): Promise<number> {
  const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM idempotency_keys`.execute(db);
  return Number(rows[0]!.n);
}

/** A 503 `unavailable` problem that says nothing about SQL, the driver or the injected fault. */
function assertUnavailable(t: Tap, response: Response, problem: unknown): void {
  t.equal(response.status, 503, 'answered 503, not 500');
  t.match(response.headers.get('content-type'), /^application\/problem\+json/, 'as a problem');
  t.match(problem, { type: '/problems/unavailable', title: 'Service unavailable', status: 503, detail: String });
  t.notMatch(
    JSON.stringify(problem),
    /injected|attempt|deadlock|serializ|SQL|40P01|40001|trigger/i,
    'the body leaks no database detail',
  );
  t.match(response.headers.get('retry-after'), /^\d+$/, 'with Retry-After in seconds');
}

t.afterEach(clearFaults);

for (const [sqlstate, failures] of [
  ['40P01', 1],
  ['40P01', 2],
  ['40001', 2],
] as const) {
  t.test(
    `a create that fails ${failures}× with ${sqlstate} is retried: 201, one order stored${POSTGRES_RUN_ONLY}`,
    async (t) => {
      const datetime = `2040-0${failures}-0${sqlstate === '40P01' ? 1 : 2}T10:00:00.000Z`;
      const before = await countRows(db, 'orders');
      await injectFaults(sqlstate, failures);

      const { data, response } = await client.POST('/orders', {
        body: orderBody(datetime, { services: [{ id: 123 }, { id: 456 }] }),
      });

      t.equal(response.status, 201, 'the client never sees the transient failure');
      t.equal(await attempts(), failures + 1, `${failures} failed attempt(s), then the one that succeeded`);
      t.same(await ordersAt(datetime), [data!.id], 'exactly one order stored');
      t.equal(await countRows(db, 'orders'), before + 1);
      t.strictSame(
        essentials(await storedOrder(data!.id)),
        { datetime, totalfee: '100.00', version: 1, services: [123, 456] },
        'with its services',
      );
    },
  );
}

t.test(
  'a replace that fails twice with 40001 (then 40P01) is retried: 200, the order replaced exactly once' +
    POSTGRES_RUN_ONLY,
  async (t) => {
    for (const [i, sqlstate] of (['40001', '40P01'] as const).entries()) {
      const created = await client.POST('/orders', { body: orderBody(`2040-04-0${i + 1}T08:00:00.000Z`) });
      const id = created.data!.id;
      await injectFaults(sqlstate, 2);

      const { data, response } = await client.PUT('/orders/{orderId}', {
        params: { path: { orderId: id }, header: { 'If-Match': created.response.headers.get('etag')! } },
        body: orderBody(`2040-04-0${i + 1}T12:00:00.000Z`, { totalfee: 7.5, services: [{ id: 789 }] }),
      });

      t.equal(response.status, 200, `${sqlstate}: 200 after the retries`);
      t.equal(response.headers.get('etag'), `"${id}-2"`, 'one new version, not one per attempt');
      t.equal(await attempts(), 3);
      t.strictSame(
        essentials(await storedOrder(id)),
        { datetime: data!.datetime, totalfee: '7.50', version: 2, services: [789] },
        'stored as the reply says',
      );
      await clearFaults();
    }
  },
);

t.test(
  'a service rename that loses a deadlock (its bump of an order meets a replace) is run again: 200, the order bumped once; always losing: 503, nothing renamed' +
    POSTGRES_RUN_ONLY,
  async (t) => {
    await db.insertInto('services').values({ id: 6161, name: 'Calibration' }).execute();
    const created = await client.POST('/orders', {
      body: orderBody('2040-06-15T08:00:00.000Z', { services: [{ id: 6161 }] }),
    });
    const id = created.data!.id;
    const serviceEvents = async () =>
      Number(
        (
          await sql<{
            n: string;
          }>`SELECT count(*) AS n FROM events WHERE subject_type = 'service' AND subject_id = '6161'`.execute(db)
        ).rows[0]!.n,
      );
    const eventsBefore = await serviceEvents();

    await injectFaults('40P01', 2); // the bump of the order is the rename's write on orders
    const renamed = await client.PUT('/services/{serviceId}', {
      params: { path: { serviceId: 6161 } },
      body: { name: 'Calibration, renamed' },
    });
    t.equal(renamed.response.status, 200, 'renamed after two deadlocks');
    t.equal(await attempts(), 3, 'in three attempts');
    t.equal((await storedOrder(id))?.version, 2, 'the order bumped once, not once per attempt');
    t.equal(await serviceEvents(), eventsBefore + 1, 'one service.replaced event');

    await injectFaults('40P01', 'always');
    const refused = await client.PUT('/services/{serviceId}', {
      params: { path: { serviceId: 6161 } },
      body: { name: 'Calibration, again' },
    });
    assertUnavailable(t, refused.response, refused.error);
    t.equal(await attempts(), 3, 'at most three attempts');
    await clearFaults();
    const stored = await db.selectFrom('services').select('name').where('id', '=', 6161).executeTakeFirst();
    t.equal(stored?.name, 'Calibration, renamed', 'the refused rename changed nothing');
  },
);

t.test(
  'with an Idempotency-Key, a transient deadlock is retried inside the request: one order, one stored response' +
    POSTGRES_RUN_ONLY,
  async (t) => {
    const datetime = '2040-05-01T10:00:00.000Z';
    const keysBefore = await idempotencyKeysStored();
    await injectFaults('40P01', 2);
    const send = () =>
      client.POST('/orders', {
        params: { header: { 'Idempotency-Key': 'transient-deadlock-1' } },
        body: orderBody(datetime),
      });

    const first = await send();
    t.equal(first.response.status, 201);
    t.equal(await attempts(), 3, 'retried within the keyed transaction (savepoint) until it went through');
    const replay = await send();
    t.equal(replay.response.status, 201);
    t.equal(replay.response.headers.get('idempotent-replayed'), 'true');
    t.same(replay.data, first.data, 'the retry replays the stored 201');
    t.same(await ordersAt(datetime), [first.data!.id], 'exactly one order stored');
    t.equal(await idempotencyKeysStored(), keysBefore + 1);
  },
);

t.test(
  '20 concurrent overlapping creates while the first 4 write attempts deadlock: 1×201, 19×409, no 5xx' +
    POSTGRES_RUN_ONLY,
  async (t) => {
    const base = Date.parse('2040-06-01T10:00:00.000Z');
    const datetimes = Array.from({ length: 20 }, (_, i) => new Date(base + i * 5 * 60_000).toISOString());
    // Fewer failures than a request's attempts, so even one request absorbing them all goes through.
    await injectFaults('40P01', 4);

    const results = await Promise.all(
      datetimes.map((datetime) => client.POST('/orders', { body: orderBody(datetime) })),
    );

    const statuses = results.map((r) => r.response.status);
    t.same(
      statuses.filter((s) => s !== 201 && s !== 409),
      [],
      `only 201 and 409 (got ${JSON.stringify(statuses)})`,
    );
    const winners = results.filter((r) => r.response.status === 201);
    t.equal(winners.length, 1, 'exactly one 201');
    const winnerId = winners[0]?.data?.id;
    for (const r of results.filter((r) => r.response.status === 409)) {
      t.equal(r.error?.conflictingOrderId, winnerId, 'every 409 names the winner');
    }
    t.equal(await attempts(), 24, 'one attempt per request plus one retry per injected deadlock');
    const inWindow = await db
      .selectFrom('orders')
      .select(sql<string>`id::text`.as('id'))
      .where('datetime', '>=', new Date(base).toISOString())
      .where('datetime', '<', new Date(base + 3 * 3_600_000).toISOString())
      .execute();
    t.same(
      inWindow.map((r) => r.id),
      [winnerId],
      'one order in the window',
    );
  },
);

for (const sqlstate of ['40P01', '40001'] as const) {
  t.test(
    `a create that always fails with ${sqlstate}: 503 after a bounded number of attempts, nothing stored${POSTGRES_RUN_ONLY}`,
    async (t) => {
      const datetime = `2040-07-0${sqlstate === '40P01' ? 1 : 2}T10:00:00.000Z`;
      const orders = await countRows(db, 'orders');
      const links = await countRows(db, 'order_services');
      await injectFaults(sqlstate, 'always');

      const { error, response } = await client.POST('/orders', {
        body: orderBody(datetime, { services: [{ id: 123 }, { id: 789 }] }),
      });

      assertUnavailable(t, response, error);
      const tried = await attempts();
      t.ok(tried > 1 && tried <= 5, `retried, but at most 5 attempts (made ${tried})`);
      t.equal(await countRows(db, 'orders'), orders, 'no order stored');
      t.equal(await countRows(db, 'order_services'), links, 'no service links stored');
    },
  );
}

t.test(
  'a replace that always fails with 40001: 503, bounded attempts, the order unchanged' + POSTGRES_RUN_ONLY,
  async (t) => {
    const created = await client.POST('/orders', {
      body: orderBody('2040-08-01T10:00:00.000Z', { services: [{ id: 123 }, { id: 456 }] }),
    });
    const id = created.data!.id;
    const before = await storedOrder(id);
    await injectFaults('40001', 'always');

    const { error, response } = await client.PUT('/orders/{orderId}', {
      params: { path: { orderId: id } },
      body: orderBody('2040-08-01T20:00:00.000Z', { totalfee: 1, services: [{ id: 789 }] }),
    });

    assertUnavailable(t, response, error);
    const tried = await attempts();
    t.ok(tried > 1 && tried <= 5, `retried, but at most 5 attempts (made ${tried})`);
    t.same(await storedOrder(id), before, 'datetime, fee, version, timestamps and service links are unchanged');
  },
);

t.test(
  'with an Idempotency-Key, a persistent deadlock answers 503 and releases the key: the retry does the work afresh' +
    POSTGRES_RUN_ONLY,
  async (t) => {
    const datetime = '2040-09-01T10:00:00.000Z';
    const keysBefore = await idempotencyKeysStored();
    const send = () =>
      client.POST('/orders', {
        params: { header: { 'Idempotency-Key': 'persistent-deadlock-1' } },
        body: orderBody(datetime),
      });
    await injectFaults('40P01', 'always');

    const failed = await send();
    assertUnavailable(t, failed.response, failed.error);
    const tried = await attempts();
    t.ok(tried > 1 && tried <= 5, `retried, but at most 5 attempts (made ${tried})`);
    t.same(await ordersAt(datetime), [], 'no order stored');
    t.equal(await idempotencyKeysStored(), keysBefore, 'the 503 was not stored for replay');

    await clearFaults();
    const retried = await send();
    t.equal(retried.response.status, 201, 'once the database recovers, the same key creates the order');
    t.equal(retried.response.headers.get('idempotent-replayed'), null, 'as new work, not a replay of the 503');
    t.same(await ordersAt(datetime), [retried.data!.id]);
  },
);

t.test(
  'without the bucket locks, crossed inserts really deadlock on the exclusion constraint (40P01), and a plain overlap waits then fails 23P01' +
    POSTGRES_RUN_ONLY,
  async (t) => {
    // Documentation of why writers queue per bucket: two raw transactions, no advisory locks. Straight
    // to Postgres on every route: it is Postgres' behaviour, and pg_blocking_pids needs real pids.
    const url = directUrl((target as { url: string }).url);
    const [a, b, observer] = [0, 1, 2].map(() => new pg.Client({ connectionString: url }));
    for (const c of [a, b, observer]) await c!.connect();
    t.teardown(() => Promise.all([a, b, observer].map((c) => c!.end())));
    const insert = (c: pg.Client, datetime: string) =>
      c.query(`INSERT INTO orders (datetime, totalfee) VALUES ($1, 1)`, [datetime]);
    const waitUntilBlocked = async (c: pg.Client) => {
      const pid = (c as unknown as { processID: number }).processID;
      for (let i = 0; i < 200; i++) {
        const { rows } = await observer!.query('SELECT cardinality(pg_blocking_pids($1)) > 0 AS blocked', [pid]);
        if (rows[0].blocked) return;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      throw new Error('the insert never blocked');
    };
    const { rows } = await a!.query(`SELECT setting::int AS ms FROM pg_settings WHERE name = 'deadlock_timeout'`);
    const deadlockTimeoutMs: number = rows[0].ms;

    // A holds 00:00 and B holds 06:00 (uncommitted); then A wants 05:00 (overlaps B's) and B wants
    // 01:00 (overlaps A's): each waits for the other's transaction.
    await a!.query('BEGIN');
    await b!.query('BEGIN');
    await insert(a!, '2041-01-01T00:00:00Z');
    await insert(b!, '2041-01-01T06:00:00Z');
    const started = Date.now();
    const aCrossed = insert(a!, '2041-01-01T05:00:00Z');
    await waitUntilBlocked(a!);
    const bCrossed = insert(b!, '2041-01-01T01:00:00Z');
    const outcomes = await Promise.allSettled([aCrossed, bCrossed]);
    const elapsed = Date.now() - started;

    const failures = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    t.equal(failures.length, 1, 'Postgres rolls back exactly one of the two');
    t.equal(failures[0]?.reason?.code, '40P01', 'with SQLSTATE 40P01 (deadlock detected)');
    t.ok(
      elapsed >= deadlockTimeoutMs - 50,
      `and only after deadlock_timeout (${deadlockTimeoutMs} ms; took ${elapsed} ms)`,
    );
    const [survivor, victim] = outcomes[0]!.status === 'fulfilled' ? [a!, b!] : [b!, a!];
    await victim.query('ROLLBACK');
    await survivor.query('COMMIT');
    const { rows: stored } = await observer!.query(
      `SELECT to_char(datetime AT TIME ZONE 'UTC', 'HH24:MI') AS at FROM orders WHERE datetime >= '2041-01-01' AND datetime < '2041-01-02' ORDER BY datetime`,
    );
    t.same(
      stored.map((r) => r.at),
      survivor === a ? ['00:00', '05:00'] : ['01:00', '06:00'],
      "the survivor's rows are stored, the victim's are gone",
    );

    // A plain overlap: B waits for A's uncommitted row, then meets it as a committed conflict.
    await a!.query('BEGIN');
    await b!.query('BEGIN');
    await insert(a!, '2041-02-01T00:00:00Z');
    const bOverlap = insert(b!, '2041-02-01T01:00:00Z').then(
      () => undefined,
      (error: { code?: string; constraint?: string }) => error,
    );
    await waitUntilBlocked(b!);
    await a!.query('COMMIT');
    t.match(
      await bOverlap,
      { code: '23P01', constraint: 'orders_schedule_window' },
      'the waiter fails with 23P01 once the holder commits',
    );
    await b!.query('ROLLBACK');
  },
);
