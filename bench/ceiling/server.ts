/**
 * The bare ceiling: the least an honest implementation of the orders job can do, for the
 * benchmark to measure the service against. Fastify and a `pg` pool on the service's own schema
 * (the database must already be migrated: the benchmark loader does it), the same SQL work and
 * the same response bodies, and nothing else: no validation, auth, logging, metrics, security
 * headers, ETags, idempotency or retries.
 *
 * Routes mirror the service's so one driver scenario hits both:
 *   GET  /orders/:id                    one order with its services (one query, json_agg)
 *   GET  /orders?limit=&cursor=         keyset page; the cursor is base64url of [datetime, id]
 *   POST /orders                        one statement (CTE) queues for the 3-hour window, inserts
 *                                       the order and its links, or (refused by the constraint,
 *                                       ON CONFLICT DO NOTHING) names the order in the way: 409
 *   PUT  /orders/:id                    a transaction: lock the row and queue for the window, then
 *                                       one statement (CTE) replaces datetime, fee and links
 *   GET  /events?limit=&after=          the change feed, keyset by (tx_id, id) below the snapshot's xmin
 * Every write appends its outbox event in the same statement, as the service's do.
 *
 * The writes are the service's SQL, statement for statement: the window queue (advisory locks,
 * so concurrent writers near one slot take turns instead of deadlocking in the exclusion check)
 * and the row lock of a replace (so concurrent replaces of one order cannot mix their service
 * links) are part of doing the job correctly, not service overhead. CEILING_WRITES=minimal drops
 * both, as a naive implementation would (one autocommit statement per write; a refused create is
 * an error, then a lookup of the order in the way), to measure what the service's write SQL costs.
 *
 *   DATABASE_URL=postgres://… PORT=3001 node dist/bench/ceiling/server.js
 */
import Fastify from 'fastify';
import pg from 'pg';

/** Instants arrive as ISO text (isoInstant). */
interface OrderRow {
  id: string;
  datetime: string;
  totalfee: string;
  services: Array<{ id: number; name: string }> | null;
  created_at: string;
  updated_at: string;
  created_by: string | null;
  updated_by: string | null;
}

interface OrderBody {
  datetime: string;
  totalfee: number;
  services: Array<{ id: number | string }>;
}

const ACTOR = 'ceiling';
const minimalWrites = process.env.CEILING_WRITES === 'minimal';
const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('DATABASE_URL is required');
  process.exit(1);
}
/**
 * Postgres writes a timestamptz as `2022-11-01 11:11:11.111+00` when the session's time zone is
 * UTC: the API's form is a few string operations away, with no Date parsed and printed again.
 */
function isoInstant(text: string): string {
  const fraction = text.length > 22 ? text.slice(20, text.length - 3) : '';
  return `${text.slice(0, 10)}T${text.slice(11, 19)}.${(fraction + '000').slice(0, 3)}Z`;
}
const TIMESTAMPTZ = 1184;

// The service's pool size, so both have the same number of connections to work with.
const pool = new pg.Pool({
  connectionString: databaseUrl,
  max: 10,
  options: '-c TimeZone=UTC',
  types: {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
      oid === TIMESTAMPTZ ? isoInstant : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
  },
});

/**
 * One statement on a pooled connection. Not `pool.query`: it releases the connection with the
 * query's error, which makes the pool close it, so every 409 would cost a reconnect (Kysely, in
 * the service, releases connections without the error and keeps them).
 */
async function query<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
  const client = await pool.connect();
  try {
    return await client.query<R>(prepared(text, values));
  } finally {
    client.release();
  }
}

/**
 * Every statement is a named prepared statement: parsed and planned once per connection, then
 * only bound and executed (Postgres may keep a generic plan), instead of parsed and planned on
 * every request.
 */
const statementNames = new Map<string, string>();
function prepared(text: string, values: unknown[]): pg.QueryConfig {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `ceiling_${statementNames.size}`;
    statementNames.set(text, name);
  }
  return { name, text, values };
}

const servicesOf = `(
  SELECT coalesce(json_agg(json_build_object('id', s.id, 'name', s.name) ORDER BY s.id), '[]')
  FROM order_services os JOIN services s ON s.id = os.service_id
  WHERE os.order_id = o.id
)`;
const selectOrders = `SELECT o.id::text AS id, o.datetime, o.totalfee, ${servicesOf} AS services,
  o.created_at, o.updated_at, o.created_by, o.updated_by, o.version FROM orders o`;
const writtenColumns = (row: string) => `${row}.id::text AS id, ${row}.datetime, ${row}.totalfee, ${row}.created_at,
  ${row}.updated_at, ${row}.created_by, ${row}.updated_by, ${row}.version,
  (SELECT json_agg(json_build_object('id', s.id, 'name', s.name) ORDER BY s.id)
   FROM services s WHERE s.id = ANY($4::integer[])) AS services`;

const iso = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
/**
 * The outbox row every write appends in its own statement (the service's src/db/outbox.ts): the
 * order as the API shows it, built by the database; $3 is the actor, $4 the service ids.
 */
const orderEvent = (type: string, row: string) => `INSERT INTO events (type, actor, subject_type, subject_id, data)
    SELECT '${type}', $3, 'order', ${row}.id::text, jsonb_build_object(
      'id', ${row}.id::text, 'datetime', ${iso(`${row}.datetime`)}, 'totalfee', ${row}.totalfee,
      'services', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', s.id, 'name', s.name) ORDER BY s.id), '[]')
        FROM services s WHERE s.id = ANY($4::integer[])),
      'createdAt', ${iso(`${row}.created_at`)}, 'updatedAt', ${iso(`${row}.updated_at`)},
      'createdBy', ${row}.created_by, 'updatedBy', ${row}.updated_by)
    FROM ${row}`;

// The service's scheduleWindowQueue (src/orders/queries.ts): lock the 3-hour bucket of $1 and
// both neighbours, in order.
const queue = (datetime: string) => `SELECT count(pg_advisory_xact_lock(30301, bucket)) AS locks
    FROM (
      SELECT floor(extract(epoch FROM ${datetime}::timestamptz) / 10800)::integer + step AS bucket
      FROM generate_series(-1, 1) AS step
      ORDER BY bucket
    ) AS buckets`;

function cappedPage(where: string): string {
  return `SELECT page.id, page.datetime, page.totalfee, page.services, page.created_at, page.updated_at,
      page.created_by, page.updated_by, page.version
    FROM (
      SELECT o.id::text AS id, o.datetime, o.totalfee, ${servicesOf} AS services, o.created_at, o.updated_at,
        o.created_by, o.updated_by, o.version, o.id AS sort_id
      FROM orders o ${where} ORDER BY o.datetime, o.id LIMIT 101
    ) AS page
    ORDER BY page.datetime, page.sort_id LIMIT $1`;
}

const sql = {
  findById: `${selectOrders} WHERE o.id = $1::bigint`,
  // Pages: a constant cap inside (the largest page and one more) keeps the generic plan cheap at any
  // size (with only LIMIT $1 Postgres plans afresh on every execution at 1M orders); see orders/queries.ts.
  firstPage: cappedPage(''),
  pageAfter: cappedPage('WHERE (o.datetime, o.id) > ($2::timestamptz, $3::bigint)'),
  create: minimalWrites
    ? `WITH created AS (
      INSERT INTO orders (datetime, totalfee, created_by, updated_by)
      VALUES ($1::timestamptz, $2::numeric, $3, $3) RETURNING *
    ), linked AS (
      INSERT INTO order_services (order_id, service_id)
      SELECT created.id, service_id FROM created, unnest($4::integer[]) AS service_id
    ), evented AS (${orderEvent('order.created', 'created')})
    SELECT ${writtenColumns('created')} FROM created`
    : `WITH queued AS (${queue('$1')}), created AS (
      INSERT INTO orders (datetime, totalfee, created_by, updated_by)
      SELECT $1::timestamptz, $2::numeric, $3, $3 FROM queued
      ON CONFLICT ON CONSTRAINT orders_schedule_window DO NOTHING
      RETURNING *
    ), linked AS (
      INSERT INTO order_services (order_id, service_id)
      SELECT created.id, service_id FROM created, unnest($4::integer[]) AS service_id
    ), evented AS (${orderEvent('order.created', 'created')})
    SELECT ${writtenColumns('created')}, conflict.id::text AS conflicting_id, conflict.datetime AS conflicting_datetime
    FROM (VALUES (1)) AS attempt
    LEFT JOIN created ON true
    LEFT JOIN LATERAL (
      SELECT o.id, o.datetime FROM orders o
      WHERE created.id IS NULL
        AND o.datetime > $1::timestamptz - interval '3 hours' AND o.datetime < $1::timestamptz + interval '3 hours'
      ORDER BY o.datetime LIMIT 1
    ) AS conflict ON true`,
  replace: `WITH updated AS (
      UPDATE orders SET datetime = $1::timestamptz, totalfee = $2::numeric, updated_at = now(),
        updated_by = $3, version = version + 1
      WHERE id = $5::bigint RETURNING *
    ), unlinked AS (
      DELETE FROM order_services WHERE order_id = $5::bigint AND service_id <> ALL($4::integer[])
    ), linked AS (
      INSERT INTO order_services (order_id, service_id)
      SELECT updated.id, service_id FROM updated, unnest($4::integer[]) AS service_id
      ON CONFLICT DO NOTHING
    ), evented AS (${orderEvent('order.replaced', 'updated')})
    SELECT ${writtenColumns('updated')} FROM updated`,
  lockForReplace: `WITH target AS MATERIALIZED (SELECT version FROM orders WHERE id = $1::bigint FOR UPDATE)
    SELECT target.version, (SELECT queued.locks FROM (${queue('$2')}) AS queued WHERE target.version IS NOT NULL) AS locks
    FROM target`,
  // The windows [d, d+3h) and [s, s+3h) overlap exactly when s - 3h < d < s + 3h: a btree range,
  // which a prepared statement's generic plan can use (it cannot use the GiST index for a parameter).
  conflicting: `SELECT id::text AS id, datetime FROM orders
    WHERE datetime > $1::timestamptz - interval '3 hours' AND datetime < $1::timestamptz + interval '3 hours'
      AND ($2::bigint IS NULL OR id <> $2::bigint)
    ORDER BY datetime LIMIT 1`,
  // The feed: only events of transactions below the snapshot's xmin (all ended), so none can later
  // commit behind a cursor handed out; the retention horizon from the same snapshot (410 below it).
  feed: `SELECT f.xmin::text AS frontier, h.tx_id::text AS horizon_tx, h.id::text AS horizon_id,
      page.id, page.tx_id, page.type, page.occurred_at, page.actor, page.subject_type, page.subject_id, page.data
    FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) AS f
    CROSS JOIN (SELECT tx_id, id FROM event_horizon LIMIT 1) AS h
    LEFT JOIN LATERAL (
      SELECT * FROM (
        SELECT e.id::text AS id, e.tx_id::text AS tx_id, e.type, e.occurred_at, e.actor, e.subject_type,
          e.subject_id, e.data, e.tx_id AS sort_tx, e.id AS sort_id
        FROM events AS e
        WHERE (e.tx_id, e.id) > ($1::xid8, $2::bigint) AND e.tx_id < f.xmin
        ORDER BY e.tx_id, e.id LIMIT 101
      ) AS capped
      ORDER BY capped.sort_tx, capped.sort_id LIMIT $3
    ) AS page ON true
    ORDER BY page.sort_tx, page.sort_id`,
  // Free time: the service's statements (src/availability/queries.ts), which are already index-only
  // range scans that keep their generic plan at any size (the free windows' bounds are InitPlans and
  // their LIMIT 251, never reached, caps the planner's estimate); the ceiling leaves out the excluded
  // order's existence check.
  windows: `SELECT greatest(p.point + interval '3 hours', $1::timestamptz) AS "earliestStart",
      least(p.next - interval '3 hours', $2::timestamptz - interval '1 millisecond') AS "latestStart"
    FROM (
      SELECT b.point, lead(b.point) OVER (ORDER BY b.point) AS next
      FROM (
        SELECT timestamptz '-infinity' AS point
        UNION ALL
        (SELECT datetime FROM orders
         WHERE datetime > (SELECT $1::timestamptz - interval '3 hours')
           AND datetime < (SELECT $2::timestamptz + interval '3 hours')
         ORDER BY datetime LIMIT 251)
        UNION ALL
        SELECT timestamptz 'infinity'
      ) AS b
    ) AS p
    WHERE p.next IS NOT NULL
      AND greatest(p.point + interval '3 hours', $1::timestamptz) <= least(p.next - interval '3 hours', $2::timestamptz - interval '1 millisecond')
    ORDER BY 1`,
  nearest: `WITH blocking AS MATERIALIZED (
      SELECT EXISTS (
        SELECT 1 FROM orders WHERE datetime > $1::timestamptz - interval '3 hours'
          AND datetime < $1::timestamptz + interval '3 hours' AND id IS DISTINCT FROM $2::bigint
      ) AS blocked
    ), run_start AS (
      SELECT datetime FROM (
        SELECT datetime, lead(datetime) OVER (ORDER BY datetime DESC) AS earlier FROM orders
        WHERE datetime < $1::timestamptz + interval '3 hours' AND id IS DISTINCT FROM $2::bigint
        ORDER BY datetime DESC
      ) w WHERE earlier IS NULL OR datetime - earlier >= interval '6 hours' LIMIT 1
    ), run_end AS (
      SELECT datetime FROM (
        SELECT datetime, lead(datetime) OVER (ORDER BY datetime) AS later FROM orders
        WHERE datetime > $1::timestamptz - interval '3 hours' AND id IS DISTINCT FROM $2::bigint
        ORDER BY datetime
      ) w WHERE later IS NULL OR later - datetime >= interval '6 hours' LIMIT 1
    ), nearest AS MATERIALIZED (
      SELECT CASE WHEN blocked THEN (SELECT datetime - interval '3 hours' FROM run_start) ELSE $1::timestamptz END AS before,
        CASE WHEN blocked THEN (SELECT datetime + interval '3 hours' FROM run_end) ELSE $1::timestamptz END AS after
      FROM blocking
    )
    SELECT CASE WHEN before >= timestamptz '0001-01-01T00:00:00Z' THEN before END AS before,
      CASE WHEN after <= timestamptz '9999-12-31T23:59:59.999Z' THEN after END AS after
    FROM nearest`,
};

async function nearestFree(at: string, exceptId: string | null) {
  return (await query<{ before: string | null; after: string | null }>(sql.nearest, [at, exceptId])).rows[0]!;
}

function toOrder(row: OrderRow) {
  return {
    id: row.id,
    datetime: row.datetime,
    totalfee: Number(row.totalfee),
    services: row.services ?? [],
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    createdBy: row.created_by,
    updatedBy: row.updated_by,
  };
}

const encodeCursor = (row: OrderRow) => Buffer.from(JSON.stringify([row.datetime, row.id])).toString('base64url');
const decodeCursor = (cursor: string) =>
  JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
const writeParams = (body: OrderBody) => [
  body.datetime,
  String(body.totalfee),
  ACTOR,
  body.services.map((s) => Number(s.id)),
];

/** 23P01 (the 3-hour rule) → 409 naming the order in the way; 23503 (unknown service) → 422. */
async function refusal(error: unknown, body: OrderBody, exceptId: string | null) {
  const code = (error as { code?: string }).code;
  if (code === '23503') return { status: 422, body: { title: 'Unknown service' } };
  if (code !== '23P01') throw error;
  return {
    status: 409,
    body: conflictBody(await lookUpConflict(body, exceptId), await nearestFree(body.datetime, exceptId)),
  };
}

async function lookUpConflict(body: OrderBody, exceptId: string | null) {
  return (await query<{ id: string; datetime: string }>(sql.conflicting, [body.datetime, exceptId])).rows[0];
}

function conflictBody(
  other: { id: string; datetime: string } | undefined,
  nearest: { before: string | null; after: string | null },
) {
  return {
    title: 'Schedule conflict',
    conflictingOrderId: other?.id ?? null,
    conflictingDatetime: other?.datetime ?? null,
    nearestFreeBefore: nearest.before,
    nearestFreeAfter: nearest.after,
  };
}

const app = Fastify({ logger: false });

// Response schemas, so Fastify serializes with fast-json-stringify as the service does.
const orderSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    datetime: { type: 'string' },
    totalfee: { type: 'number' },
    services: {
      type: 'array',
      items: { type: 'object', properties: { id: { type: 'integer' }, name: { type: 'string' } } },
    },
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
    createdBy: { type: ['string', 'null'] },
    updatedBy: { type: ['string', 'null'] },
  },
} as const;
const pageSchema = {
  type: 'object',
  properties: { data: { type: 'array', items: orderSchema }, nextCursor: { type: ['string', 'null'] } },
} as const;
const one = { schema: { response: { 200: orderSchema } } };
const page = { schema: { response: { 200: pageSchema } } };
const created = { schema: { response: { 201: orderSchema } } };

app.get<{ Params: { id: string } }>('/orders/:id', one, async (request, reply) => {
  const { rows } = await query<OrderRow>(sql.findById, [request.params.id]);
  const row = rows[0];
  if (!row) return reply.code(404).send({ title: 'Not found' });
  return toOrder(row);
});

app.get<{ Querystring: { limit?: string; cursor?: string } }>('/orders', page, async (request) => {
  const limit = Number(request.query.limit ?? 50);
  const { cursor } = request.query;
  const { rows } =
    cursor === undefined
      ? await query<OrderRow>(sql.firstPage, [limit + 1])
      : await query<OrderRow>(sql.pageAfter, [limit + 1, ...decodeCursor(cursor)]);
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { data: page.map(toOrder), nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
});

type CreatedRow = OrderRow & { conflicting_id?: string | null; conflicting_datetime?: string | null };

app.post<{ Body: OrderBody }>('/orders', created, async (request, reply) => {
  try {
    const { rows } = await query<CreatedRow>(sql.create, writeParams(request.body));
    const row = rows[0]!;
    if (row.id === null) {
      // Refused by the constraint (ON CONFLICT DO NOTHING); the order in the way, when the
      // statement could see it, else looked up as after an error.
      const conflicting = row.conflicting_id
        ? { id: row.conflicting_id, datetime: row.conflicting_datetime! }
        : await lookUpConflict(request.body, null);
      return reply.code(409).send(conflictBody(conflicting, await nearestFree(request.body.datetime, null)));
    }
    const order = toOrder(row);
    return reply.code(201).header('location', `/orders/${order.id}`).send(order);
  } catch (error) {
    const { status, body } = await refusal(error, request.body, null);
    return reply.code(status).send(body);
  }
});

/** The service's replace: lock the row and queue for the window, then write, in one transaction. */
async function replace(id: string, body: OrderBody): Promise<OrderRow | undefined> {
  const params = [...writeParams(body), id];
  if (minimalWrites) return (await query<OrderRow>(sql.replace, params)).rows[0];
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const locked = await client.query(prepared(sql.lockForReplace, [id, body.datetime]));
    const row =
      locked.rows.length === 0 ? undefined : (await client.query<OrderRow>(prepared(sql.replace, params))).rows[0];
    await client.query('COMMIT');
    client.release();
    return row;
  } catch (error) {
    // A connection that cannot even roll back is discarded; the original error is what counts.
    const broken = await client.query('ROLLBACK').then(
      () => undefined,
      (rollbackError: Error) => rollbackError,
    );
    client.release(broken);
    throw error;
  }
}

app.put<{ Params: { id: string }; Body: OrderBody }>('/orders/:id', one, async (request, reply) => {
  try {
    const row = await replace(request.params.id, request.body);
    if (!row) return reply.code(404).send({ title: 'Not found' });
    return toOrder(row);
  } catch (error) {
    const { status, body } = await refusal(error, request.body, request.params.id);
    return reply.code(status).send(body);
  }
});

const windowSchema = {
  type: 'object',
  properties: { earliestStart: { type: 'string' }, latestStart: { type: 'string' } },
} as const;
const availabilitySchema = {
  type: 'object',
  properties: { from: { type: 'string' }, to: { type: 'string' }, windows: { type: 'array', items: windowSchema } },
} as const;
const nearestSchema = {
  type: 'object',
  properties: { at: { type: 'string' }, before: { type: ['string', 'null'] }, after: { type: ['string', 'null'] } },
} as const;

app.get<{ Querystring: { from: string; to: string } }>(
  '/availability',
  { schema: { response: { 200: availabilitySchema } } },
  async (request) => {
    const from = new Date(request.query.from).toISOString();
    const to = new Date(request.query.to).toISOString();
    const { rows } = await query<{ earliestStart: string; latestStart: string }>(sql.windows, [from, to]);
    return { from, to, windows: rows };
  },
);

app.get<{ Querystring: { at: string } }>(
  '/availability/nearest',
  { schema: { response: { 200: nearestSchema } } },
  async (request) => {
    const at = new Date(request.query.at).toISOString();
    return { at, ...(await nearestFree(at, null)) };
  },
);

interface FeedRow {
  frontier: string;
  horizon_tx: string;
  horizon_id: string;
  id: string | null;
  tx_id: string | null;
  type: string;
  occurred_at: string;
  actor: string | null;
  subject_type: string;
  subject_id: string;
  data: unknown;
}
const eventSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    type: { type: 'string' },
    occurredAt: { type: 'string' },
    actor: { type: ['string', 'null'] },
    subject: { type: 'object', properties: { type: { type: 'string' }, id: { type: 'string' } } },
    data: { type: 'object', additionalProperties: true },
  },
} as const;
const eventPageSchema = {
  type: 'object',
  properties: { data: { type: 'array', items: eventSchema }, nextCursor: { type: 'string' } },
} as const;
const xidBelow = (a: string, b: string) => a.length < b.length || (a.length === b.length && a < b);

app.get<{ Querystring: { limit?: string; after?: string } }>(
  '/events',
  { schema: { response: { 200: eventPageSchema } } },
  async (request, reply) => {
    const limit = Number(request.query.limit ?? 50);
    const [afterTx, afterId] = request.query.after ? decodeCursor(request.query.after) : ['0', '0'];
    const { rows } = await query<FeedRow>(sql.feed, [afterTx, afterId, limit]);
    const first = rows[0]!;
    const { horizon_tx: horizonTx, horizon_id: horizonId } = first;
    if (
      request.query.after &&
      (xidBelow(afterTx, horizonTx) || (afterTx === horizonTx && BigInt(afterId) < BigInt(horizonId)))
    )
      return reply.code(410).send({ title: 'Cursor expired' });
    const served = rows.filter((row) => row.id !== null);
    const last = served[served.length - 1];
    // A short page has served everything below xmin: the next poll starts there.
    const next =
      served.length === limit && last
        ? [last.tx_id!, last.id!]
        : xidBelow(afterTx, first.frontier)
          ? [first.frontier, '0']
          : [afterTx, afterId];
    return {
      data: served.map((row) => ({
        id: row.id!,
        type: row.type,
        occurredAt: row.occurred_at,
        actor: row.actor,
        subject: { type: row.subject_type, id: row.subject_id },
        data: row.data,
      })),
      nextCursor: Buffer.from(JSON.stringify(next)).toString('base64url'),
    };
  },
);

app.get('/healthz', async () => ({ status: 'ok' }));

// The schema comes from the service's migrations; refuse to start on a database without it.
const { rows } = await query<{ orders: string | null }>(`SELECT to_regclass('orders')::text AS orders`, []);
if (!rows[0]?.orders) {
  console.error('the database has no orders table: migrate it first (make migrate, or the benchmark loader)');
  process.exit(1);
}
await app.listen({ port: Number(process.env.PORT ?? 3001), host: process.env.HOST ?? '127.0.0.1' });

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void app
      .close()
      .then(() => pool.end())
      .then(() => process.exit(0));
  });
}
