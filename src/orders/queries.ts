import { sql, type RawBuilder, type Selectable, type Transaction } from 'kysely';
import { SqlState, isConstraintViolation } from '../db/errors.js';
import { appendEvents, isoInstantSql, type EventType } from '../db/outbox.js';
import { QueryTemplate } from '../db/query-template.js';
import type { Database, Executor, OrdersTable } from '../db/schema.js';
import type { ConflictingOrder, OrderDraft, OrderListQuery, OrderRecord, OrderService } from './model.js';

/**
 * Every SQL statement of the orders feature. Each accepts the database or an open transaction;
 * none decides anything (use-cases.ts does): they read, write, and say what Postgres said.
 */

/** An order row as selected: the table's columns (int8 id as text) with its services aggregated. */
type OrderRow = Selectable<OrdersTable> & { services: OrderService[] | null };

function toRecord(row: OrderRow): OrderRecord {
  return {
    id: row.id,
    datetime: row.datetime,
    totalfee: row.totalfee,
    services: row.services ?? [],
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    createdBy: row.created_by,
    updatedBy: row.updated_by,
    version: row.version,
  };
}

const SCHEDULE_WINDOW = 'orders_schedule_window';
const SERVICE_REFERENCE = 'order_services_service_id_fkey';

/** The exclusion constraint refused the row: another order holds part of its 3-hour window. */
export function isScheduleWindowViolation(error: unknown): boolean {
  return isConstraintViolation(error, SqlState.exclusionViolation, SCHEDULE_WINDOW);
}

/** A service link names a service the catalogue does not have. */
export function isUnknownServiceViolation(error: unknown): boolean {
  return isConstraintViolation(error, SqlState.foreignKeyViolation, SERVICE_REFERENCE);
}

// Services of one order as a JSON array, aggregated in SQL so a page of orders is one query.
const servicesOf = sql<OrderService[]>`(
  SELECT coalesce(json_agg(json_build_object('id', s.id, 'name', s.name) ORDER BY s.id), '[]')
  FROM order_services os JOIN services s ON s.id = os.service_id
  WHERE os.order_id = o.id
)`;

function selectOrders(db: Executor) {
  return db
    .selectFrom('orders as o')
    .select([
      sql<string>`o.id::text`.as('id'),
      'o.datetime',
      'o.totalfee',
      servicesOf.as('services'),
      'o.created_at',
      'o.updated_at',
      'o.created_by',
      'o.updated_by',
      'o.version',
    ]);
}

const orderById = new QueryTemplate(1, (db, id: string) =>
  selectOrders(db).where('o.id', '=', sql<string>`${id}::bigint`),
);

export async function findOrderById(db: Executor, id: string): Promise<OrderRecord | undefined> {
  const { rows } = await orderById.execute(db, id);
  return rows[0] && toRecord(rows[0]);
}

type ListArgs = [
  limit: number,
  afterDatetime?: string,
  afterId?: string,
  from?: string,
  to?: string,
  serviceId?: number,
];

/**
 * The most rows a page query reads: the largest `limit` openapi.yaml allows (100) and the one more
 * that tells whether a next page exists. A constant LIMIT inside each page query, as well as the
 * caller's, keeps its generic plan cheap: with only `LIMIT $n` the planner assumes a tenth of the
 * table (100,000 rows at 1M orders) and plans the statement afresh on every execution instead
 * (0.46 ms a deep page at 1M orders, against 0.32 with the cap; pgbench).
 */
export const MOST_ROWS_A_PAGE_READS = 101;

/** A page query for each combination of the filters present (at most 16 templates). */
const listShapes = new Map<number, QueryTemplate<ListArgs, OrderRow>>();

function listTemplate(query: OrderListQuery): QueryTemplate<ListArgs, OrderRow> {
  const has = {
    after: query.after !== undefined,
    from: query.from !== undefined,
    to: query.to !== undefined,
    serviceId: query.serviceId !== undefined,
  };
  const shape = (has.after ? 1 : 0) | (has.from ? 2 : 0) | (has.to ? 4 : 0) | (has.serviceId ? 8 : 0);
  let template = listShapes.get(shape);
  if (!template) {
    template = new QueryTemplate(6, (db, limit: number, afterDatetime, afterId, from, to, serviceId) => {
      let q = selectOrders(db)
        .select(sql<string>`o.id`.as('sort_id'))
        .orderBy('o.datetime')
        .orderBy('o.id')
        .limit(sql<number>`${sql.lit(MOST_ROWS_A_PAGE_READS)}`);
      if (has.after) {
        q = q.where(sql<boolean>`(o.datetime, o.id) > (${afterDatetime}::timestamptz, ${afterId}::bigint)`);
      }
      if (has.from) q = q.where('o.datetime', '>=', sql<string>`${from}::timestamptz`);
      if (has.to) q = q.where('o.datetime', '<', sql<string>`${to}::timestamptz`);
      if (has.serviceId) {
        q = q.where((eb) =>
          eb.exists(
            eb
              .selectFrom('order_services as f')
              .select('f.order_id')
              .whereRef('f.order_id', '=', 'o.id')
              .where('f.service_id', '=', sql<number>`${serviceId}::integer`),
          ),
        );
      }
      return db.selectFrom(q.as('page')).selectAll().orderBy('page.datetime').orderBy('page.sort_id').limit(limit);
    });
    listShapes.set(shape, template);
  }
  return template;
}

/** Up to `limit` orders after `after`, in (datetime, id) order. */
export async function listOrders(db: Executor, query: OrderListQuery): Promise<OrderRecord[]> {
  const { limit, after, from, to, serviceId } = query;
  if (limit > MOST_ROWS_A_PAGE_READS) throw new Error(`a page query reads at most ${MOST_ROWS_A_PAGE_READS} rows`);
  const { rows } = await listTemplate(query).execute(db, limit, after?.datetime, after?.id, from, to, serviceId);
  return rows.map(toRecord);
}

/**
 * The columns of an order just written by a CTE (`row`), with its services named from the
 * catalogue: the links written in the same statement are not visible to it yet.
 */
function writtenOrderColumns(row: RawBuilder<unknown>, serviceIds: number[]) {
  return sql`${row}.id::text AS id, ${row}.datetime, ${row}.totalfee, ${row}.created_at, ${row}.updated_at,
    ${row}.created_by, ${row}.updated_by, ${row}.version,
    (SELECT json_agg(json_build_object('id', s.id, 'name', s.name) ORDER BY s.id)
     FROM services s WHERE s.id = ANY(${serviceIds}::integer[])) AS services`;
}

/**
 * An order just written by a CTE (`row`) as the API shows it (toOrder in routes.ts), built as jsonb
 * by the database for its event: the same fields, instants in UTC with milliseconds, the fee a
 * number, the id a string of digits, services by id with their catalogue names.
 */
function orderDataSql(row: RawBuilder<unknown>, services: RawBuilder<unknown>) {
  return sql`jsonb_build_object(
    'id', ${row}.id::text, 'datetime', ${isoInstantSql(sql`${row}.datetime`)}, 'totalfee', ${row}.totalfee,
    'services', ${services},
    'createdAt', ${isoInstantSql(sql`${row}.created_at`)}, 'updatedAt', ${isoInstantSql(sql`${row}.updated_at`)},
    'createdBy', ${row}.created_by, 'updatedBy', ${row}.updated_by)`;
}

/** The services `serviceIds` name, as an order shows them (jsonb), from the catalogue. */
function namedServicesSql(serviceIds: unknown) {
  return sql`(SELECT coalesce(jsonb_agg(jsonb_build_object('id', s.id, 'name', s.name) ORDER BY s.id), '[]')
    FROM services s WHERE s.id = ANY(${serviceIds}::integer[]))`;
}

/** The one event of an order write, from the CTE `row` of the order written, with `services` (jsonb). */
function orderEvent(type: EventType, row: string, actor: unknown, services: RawBuilder<unknown>) {
  const ref = sql.ref(row);
  return appendEvents(ref, {
    type,
    actor,
    subjectType: 'order',
    subjectId: sql`${ref}.id::text`,
    data: orderDataSql(ref, services),
  });
}

/**
 * Orders (`o`) whose 3-hour window overlaps that of an order at `datetime`: the windows [d, d+3h)
 * and [s, s+3h) that the exclusion constraint compares overlap exactly when s - 3h < d < s + 3h.
 * Written as that range on `o.datetime` rather than with the constraint's tsrange expression, so
 * the btree on (datetime, id) serves it, nearest first, in every plan: a prepared statement's
 * generic plan cannot use the GiST index for a parameter's range, and would walk the table.
 */
function overlappingWindow(datetime: unknown) {
  return sql`o.datetime > ${datetime}::timestamptz - interval '3 hours' AND o.datetime < ${datetime}::timestamptz + interval '3 hours'`;
}

/** First key of the advisory locks that queue writers per 3-hour bucket (arbitrary, fixed). */
const SCHEDULE_LOCK_SPACE = 30301;

/**
 * Writers whose 3-hour windows could meet queue on shared advisory locks before writing. Without
 * this, two transactions each inserting into the other's window wait for each other inside the
 * exclusion check and Postgres breaks the deadlock only after a second. The constraint still
 * decides who wins; the locks only make contenders take turns. Time is cut into 3-hour buckets and
 * a writer locks its bucket and both neighbours, in order: two datetimes less than 3 hours apart
 * are at most one bucket apart, so they always share a lock.
 *
 * A one-row query: a statement that writes from it (INSERT ... SELECT ... FROM queued) cannot
 * produce its row before every lock is held, because the count needs them all.
 */
function scheduleWindowQueue(datetime: string): RawBuilder<unknown> {
  return sql`
    SELECT count(pg_advisory_xact_lock(${SCHEDULE_LOCK_SPACE}, bucket)) AS locks
    FROM (
      SELECT floor(extract(epoch FROM ${datetime}::timestamptz) / 10800)::integer + step AS bucket
      FROM generate_series(-1, 1) AS step
      ORDER BY bucket
    ) AS buckets`;
}

/** A create's one row: the order written, or else the order in its way (if this statement could see it). */
type CreatedRow = { [K in keyof OrderRow]: OrderRow[K] | null } & {
  conflicting_id: string | null;
  conflicting_datetime: string | null;
};

/**
 * One statement, so one round trip for a create and usually for a refusal: it queues for the
 * order's 3-hour window, inserts the order and its service links and returns the order with
 * service names; or, when the exclusion constraint refuses the row (ON CONFLICT ... DO NOTHING: the
 * constraint decides, no query runs before the insert), returns the earliest order in the way
 * instead, as the statement's snapshot shows it. Outside a transaction it is its own; the advisory
 * locks last until it ends.
 */
const insertOrderStatement = new QueryTemplate(
  4,
  (_db, datetime: string, totalfee: string, actor: string, serviceIds: number[]) => sql<CreatedRow>`
    WITH queued AS (${scheduleWindowQueue(datetime)}), created AS (
      INSERT INTO orders (datetime, totalfee, created_by, updated_by)
      SELECT ${datetime}::timestamptz, ${totalfee}::numeric, ${actor}, ${actor} FROM queued
      ON CONFLICT ON CONSTRAINT orders_schedule_window DO NOTHING
      RETURNING *
    ), linked AS (
      INSERT INTO order_services (order_id, service_id)
      SELECT created.id, service_id FROM created, unnest(${serviceIds}::integer[]) AS service_id
    ), recorded AS (${orderEvent('order.created', 'created', actor, namedServicesSql(serviceIds))})
    SELECT ${writtenOrderColumns(sql.ref('created'), serviceIds)},
      conflict.id::text AS conflicting_id, conflict.datetime AS conflicting_datetime
    FROM (VALUES (1)) AS attempt
    LEFT JOIN created ON true
    LEFT JOIN LATERAL (
      SELECT o.id, o.datetime FROM orders o
      WHERE created.id IS NULL AND ${overlappingWindow(datetime)}
      ORDER BY o.datetime LIMIT 1
    ) AS conflict ON true`,
);

/**
 * What an insert did: the order it wrote; or, refused by the schedule window, the order in the
 * way, undefined when that order committed after the statement took its snapshot (while it
 * queued) and so could not be seen by it.
 */
export type InsertOutcome = { created: OrderRecord } | { refusedBy: ConflictingOrder | undefined };

export async function insertOrder(db: Executor, draft: OrderDraft, actor: string): Promise<InsertOutcome> {
  const { rows } = await insertOrderStatement.execute(db, draft.datetime, draft.totalfee, actor, draft.serviceIds);
  const row = rows[0]!;
  if (row.id !== null) return { created: toRecord(row as OrderRow) };
  const visible = row.conflicting_id !== null && row.conflicting_datetime !== null;
  return { refusedBy: visible ? { id: row.conflicting_id!, datetime: row.conflicting_datetime! } : undefined };
}

/**
 * One statement: lock the order's row, then (only once that is granted, hence the correlated
 * subquery over the locked row) queue for the new datetime's window, in the same order as the
 * lock a create takes. Undefined when there is no such order.
 */
const lockOrderAndQueueStatement = new QueryTemplate(
  2,
  (_db, id: string, datetime: string) => sql<{ version: number }>`
    WITH target AS MATERIALIZED (SELECT version FROM orders WHERE id = ${id}::bigint FOR UPDATE)
    SELECT target.version,
      (SELECT queued.locks FROM (${scheduleWindowQueue(datetime)}) AS queued WHERE target.version IS NOT NULL) AS locks
    FROM target`,
);

/** Locks the order for a replace that moves it to `datetime`; its current version, if it exists. */
export async function lockOrderToMove(
  trx: Transaction<Database>,
  id: string,
  datetime: string,
): Promise<{ version: number } | undefined> {
  const { rows } = await lockOrderAndQueueStatement.execute(trx, id, datetime);
  return rows[0];
}

/** Locks the order's row; its current version, if it exists. */
export async function lockOrder(trx: Transaction<Database>, id: string): Promise<{ version: number } | undefined> {
  return trx
    .selectFrom('orders')
    .select('version')
    .where('id', '=', sql<string>`${id}::bigint`)
    .forUpdate()
    .executeTakeFirst();
}

// The unlink and link touch disjoint rows (services leaving, services arriving), as sub-statements
// of one statement cannot see each other's changes.
const updateOrderStatement = new QueryTemplate(
  5,
  (_db, id: string, datetime: string, totalfee: string, actor: string, serviceIds: number[]) => sql<OrderRow>`
    WITH updated AS (
      UPDATE orders
      SET datetime = ${datetime}::timestamptz, totalfee = ${totalfee}::numeric,
          updated_at = now(), updated_by = ${actor}, version = version + 1
      WHERE id = ${id}::bigint
      RETURNING *
    ), unlinked AS (
      DELETE FROM order_services
      WHERE order_id = ${id}::bigint AND service_id <> ALL(${serviceIds}::integer[])
    ), linked AS (
      INSERT INTO order_services (order_id, service_id)
      SELECT updated.id, service_id FROM updated, unnest(${serviceIds}::integer[]) AS service_id
      ON CONFLICT DO NOTHING
    ), recorded AS (${orderEvent('order.replaced', 'updated', actor, namedServicesSql(serviceIds))})
    SELECT ${writtenOrderColumns(sql.ref('updated'), serviceIds)} FROM updated`,
);

/**
 * Replaces datetime, fee and services of a locked order. Its own current slot never conflicts with
 * its new one: the constraint compares against other rows.
 */
export async function updateOrder(
  trx: Transaction<Database>,
  id: string,
  draft: OrderDraft,
  actor: string,
): Promise<OrderRecord> {
  const { rows } = await updateOrderStatement.execute(trx, id, draft.datetime, draft.totalfee, actor, draft.serviceIds);
  return toRecord(rows[0]!);
}

/**
 * One statement that deletes the order and records its event, but only if the row is still the
 * version this statement's snapshot shows: the event's services are read from that snapshot, so
 * the delete must not go ahead on a row a concurrent replace (or a service rename) changed while
 * this statement waited for its lock. The version check is re-evaluated on the locked row.
 */
const deleteOrderStatement = new QueryTemplate(
  2,
  (_db, id: string, actor: string) => sql<{ seen_version: number | null; deleted: boolean }>`
    WITH deleted AS (
      DELETE FROM orders
      WHERE id = ${id}::bigint AND version = (SELECT version FROM orders WHERE id = ${id}::bigint)
      RETURNING *
    ), recorded AS (${orderEvent(
      'order.deleted',
      'deleted',
      actor,
      sql`(SELECT coalesce(jsonb_agg(jsonb_build_object('id', s.id, 'name', s.name) ORDER BY s.id), '[]')
        FROM order_services os JOIN services s ON s.id = os.service_id WHERE os.order_id = deleted.id)`,
    )})
    SELECT (SELECT version FROM orders WHERE id = ${id}::bigint) AS seen_version,
      EXISTS (SELECT 1 FROM deleted) AS deleted`,
);

/**
 * Deletes the order (its service links go with it) and records the event. `changed` when the order
 * changed between the statement's snapshot and its lock, and was left alone: lock it, then delete.
 */
export async function deleteOrderRow(
  db: Executor,
  id: string,
  actor: string,
): Promise<'deleted' | 'absent' | 'changed'> {
  const { rows } = await deleteOrderStatement.execute(db, id, actor);
  const row = rows[0]!;
  if (row.deleted) return 'deleted';
  return row.seen_version === null ? 'absent' : 'changed';
}

function conflictingOrderQuery(db: Executor, datetime: string) {
  return db
    .selectFrom('orders as o')
    .select([sql<string>`o.id::text`.as('id'), 'o.datetime'])
    .where(sql<boolean>`${overlappingWindow(datetime)}`)
    .orderBy('o.datetime')
    .limit(1);
}

const conflictingOrder = new QueryTemplate(1, (db, datetime: string) => conflictingOrderQuery(db, datetime));
const conflictingOtherOrder = new QueryTemplate(2, (db, datetime: string, exceptId: string) =>
  conflictingOrderQuery(db, datetime).where('o.id', '<>', sql<string>`${exceptId}::bigint`),
);

/** The earliest order whose 3-hour window overlaps that of an order at `datetime`, other than `exceptId`. */
export async function findConflictingOrder(
  db: Executor,
  datetime: string,
  exceptId?: string,
): Promise<ConflictingOrder | undefined> {
  const { rows } =
    exceptId === undefined
      ? await conflictingOrder.execute(db, datetime)
      : await conflictingOtherOrder.execute(db, datetime, exceptId);
  return rows[0];
}

/** The ids among `serviceIds` that the catalogue does not have. */
export async function findUnknownServiceIds(db: Executor, serviceIds: number[]): Promise<number[]> {
  const known = await db.selectFrom('services').select('id').where('id', 'in', serviceIds).execute();
  const knownIds = new Set(known.map((s) => s.id));
  return serviceIds.filter((id) => !knownIds.has(id));
}
