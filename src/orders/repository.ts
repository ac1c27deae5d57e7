import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import { SqlState, isConstraintViolation, isTransientConflict } from '../db/errors.js';
import { QueryTemplate } from '../db/query-template.js';
import { guardedWrite } from '../db/savepoint.js';
import { Refusal } from '../refusal.js';

/** Repositories accept the database or an open transaction. */
type Executor = Kysely<Database> | Transaction<Database>;

export interface OrderServiceRecord {
  id: number;
  name: string;
}

export interface OrderRecord {
  id: string;
  datetime: Date;
  /** Exact decimal text, as stored. */
  totalfee: string;
  services: OrderServiceRecord[];
  createdAt: Date;
  updatedAt: Date;
  /** Name of the API key that created / last changed the order; null for seeded data. */
  createdBy: string | null;
  updatedBy: string | null;
  /** Incremented by every replace; the basis of the ETag. */
  version: number;
}

/** What a client asks for when creating or replacing an order, already normalised. */
export interface OrderDraft {
  /** UTC instant with millisecond precision, ISO 8601. */
  datetime: string;
  /** Exact decimal text with at most 2 decimal places. */
  totalfee: string;
  /** Distinct catalogue ids. */
  serviceIds: number[];
}

export interface OrderPosition {
  datetime: string;
  id: string;
}

export interface OrderListQuery {
  limit: number;
  after?: OrderPosition;
  from?: string;
  to?: string;
  serviceId?: number;
}

/** Another order already holds part of the requested 3-hour window. */
export class ScheduleConflictError extends Refusal {
  constructor(
    readonly requested: string,
    /** Unknown only if the conflicting order vanished again and again while we looked. */
    readonly conflicting: { id: string; datetime: Date } | undefined,
  ) {
    super(`another order is less than 3 hours from ${requested}`);
  }
}

export class UnknownServicesError extends Refusal {
  constructor(readonly serviceIds: number[]) {
    super(`unknown service ids: ${serviceIds.join(', ')}`);
  }
}

const SCHEDULE_WINDOW = 'orders_schedule_window';
const SERVICE_REFERENCE = 'order_services_service_id_fkey';
// A write refused for a reason that vanished before we could name it (the conflicting order was
// deleted, the missing service created) is simply tried again, a bounded number of times.
const MAX_ATTEMPTS = 5;
/** First key of the advisory locks that queue writers per 3-hour bucket (arbitrary, fixed). */
const SCHEDULE_LOCK_SPACE = 30301;

interface OrderRow {
  id: string;
  datetime: Date;
  totalfee: string;
  services: OrderServiceRecord[] | null;
  created_at: Date;
  updated_at: Date;
  created_by: string | null;
  updated_by: string | null;
  version: number;
}

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

// Services of one order as a JSON array, aggregated in SQL so a page of orders is one query.
const servicesOf = sql<OrderServiceRecord[]>`(
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

const orderById = new QueryTemplate(1, (db, id: string) => selectOrders(db).where('o.id', '=', sql<string>`${id}::bigint`));

export async function findOrderById(db: Executor, id: string): Promise<OrderRecord | undefined> {
  const { rows } = await orderById.execute(db, id);
  return rows[0] && toRecord(rows[0]);
}

type ListArgs = [limit: number, afterDatetime?: string, afterId?: string, from?: string, to?: string, serviceId?: number];

/** A page query for each combination of the filters present (at most 16 templates). */
const listShapes = new Map<number, QueryTemplate<ListArgs, OrderRow>>();

function listTemplate(query: OrderListQuery): QueryTemplate<ListArgs, OrderRow> {
  const has = { after: query.after !== undefined, from: query.from !== undefined, to: query.to !== undefined, serviceId: query.serviceId !== undefined };
  const shape = (has.after ? 1 : 0) | (has.from ? 2 : 0) | (has.to ? 4 : 0) | (has.serviceId ? 8 : 0);
  let template = listShapes.get(shape);
  if (!template) {
    template = new QueryTemplate(6, (db, limit: number, afterDatetime, afterId, from, to, serviceId) => {
      let q = selectOrders(db).orderBy('o.datetime').orderBy('o.id').limit(limit);
      if (has.after) q = q.where(sql<boolean>`(o.datetime, o.id) > (${afterDatetime}::timestamptz, ${afterId}::bigint)`);
      if (has.from) q = q.where('o.datetime', '>=', sql<Date>`${from}::timestamptz`);
      if (has.to) q = q.where('o.datetime', '<', sql<Date>`${to}::timestamptz`);
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
      return q;
    });
    listShapes.set(shape, template);
  }
  return template;
}

/** One page in (datetime, id) order; returns up to `limit` rows after `after`. */
export async function listOrders(db: Executor, query: OrderListQuery): Promise<OrderRecord[]> {
  const { limit, after, from, to, serviceId } = query;
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

/** The 3-hour window of an order at `datetime`: the exclusion constraint's own expression, so its GiST index serves lookups. */
function windowOf(datetime: unknown) {
  return sql`tsrange(${datetime}::timestamptz AT TIME ZONE 'UTC', (${datetime}::timestamptz AT TIME ZONE 'UTC') + interval '3 hours')`;
}
const storedWindow = sql`tsrange(datetime AT TIME ZONE 'UTC', (datetime AT TIME ZONE 'UTC') + interval '3 hours')`;

/** A create's one row: the order written, or else the order in its way (if this statement could see it). */
type CreatedRow = { [K in keyof OrderRow]: OrderRow[K] | null } & { conflicting_id: string | null; conflicting_datetime: Date | null };

/**
 * One statement, so one round trip for a create and usually for a refusal: it queues for the
 * order's 3-hour window (below), inserts the order and its service links and returns the order with
 * service names; or, when the exclusion constraint refuses the row (ON CONFLICT ... DO NOTHING: the
 * constraint decides, no query runs before the insert), returns the order in the way instead, as
 * the statement's snapshot shows it. When that order committed while this statement queued, the
 * snapshot cannot see it and createOrder looks again. Outside a transaction it is its own; the
 * advisory locks last until it ends.
 */
const insertOrder = new QueryTemplate(
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
    )
    SELECT ${writtenOrderColumns(sql.ref('created'), serviceIds)},
      conflict.id::text AS conflicting_id, conflict.datetime AS conflicting_datetime
    FROM (VALUES (1)) AS attempt
    LEFT JOIN created ON true
    LEFT JOIN LATERAL (
      SELECT o.id, o.datetime FROM orders o
      WHERE created.id IS NULL AND ${storedWindow} && ${windowOf(datetime)}
      ORDER BY o.datetime LIMIT 1
    ) AS conflict ON true`,
);

export async function createOrder(db: Executor, draft: OrderDraft, actor: string): Promise<OrderRecord> {
  return withWriteRetries(db, draft, undefined, async () => {
    for (let attempt = 1; ; attempt++) {
      const { rows } = await insertOrder.execute(db, draft.datetime, draft.totalfee, actor, draft.serviceIds);
      const row = rows[0]!;
      if (row.id !== null) return toRecord(row as OrderRow);
      if (row.conflicting_id !== null && row.conflicting_datetime !== null) {
        throw new ScheduleConflictError(draft.datetime, { id: row.conflicting_id, datetime: row.conflicting_datetime });
      }
      // The order in the way committed after this statement took its snapshot (while it queued):
      // a new statement sees it. If it has gone again meanwhile, the slot may be free: try again.
      const conflicting = await findConflictingOrder(db, draft.datetime);
      if (conflicting || attempt >= MAX_ATTEMPTS) throw new ScheduleConflictError(draft.datetime, conflicting);
    }
  });
}

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

// The unlink and link touch disjoint rows (services leaving, services arriving), as sub-statements
// of one statement cannot see each other's changes.
const updateOrder = new QueryTemplate(
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
    )
    SELECT ${writtenOrderColumns(sql.ref('updated'), serviceIds)} FROM updated`,
);

/** Why a replace or delete did not happen, when it did not. */
export type WriteRefusal = { refused: 'not-found' } | { refused: 'version-mismatch'; currentVersion: number };

/** Versions the caller's If-Match accepts; undefined when it sent none (or `*`). */
export type ExpectedVersions = readonly number[] | undefined;

/**
 * Replaces datetime, fee and services. The order's own current slot never conflicts with its new
 * one: the constraint compares against other rows.
 *
 * The row is locked first, which makes the version check atomic and lets the write statement
 * (started after the lock is granted) see the service links of any replace that committed
 * meanwhile; one statement alone would work from a snapshot taken before it waited.
 */
export async function replaceOrder(
  db: Kysely<Database>,
  id: string,
  draft: OrderDraft,
  actor: string,
  expected: ExpectedVersions,
): Promise<OrderRecord | WriteRefusal> {
  return withWriteRetries(db, draft, id, () =>
    db.transaction().execute(async (trx) => {
      const refusal = await lockForReplace(trx, id, expected, draft.datetime);
      if (refusal) return refusal;
      const { rows } = await updateOrder.execute(trx, id, draft.datetime, draft.totalfee, actor, draft.serviceIds);
      return toRecord(rows[0]!);
    }),
  );
}

/** Deletes the order (its service links go with it) if it exists and its version is expected. */
export async function deleteOrder(db: Kysely<Database>, id: string, expected: ExpectedVersions): Promise<WriteRefusal | undefined> {
  if (expected === undefined) {
    const deleted = await db.deleteFrom('orders').where('id', '=', sql<string>`${id}::bigint`).returning('version').executeTakeFirst();
    return deleted ? undefined : { refused: 'not-found' };
  }
  return db.transaction().execute(async (trx) => {
    const refusal = await lockForWrite(trx, id, expected);
    if (refusal) return refusal;
    await trx.deleteFrom('orders').where('id', '=', sql<string>`${id}::bigint`).execute();
    return undefined;
  });
}

/**
 * One statement: lock the order's row, then (only once that is granted, hence the correlated
 * subquery over the locked row) queue for the new datetime's window, in the same order as before.
 */
const lockOrderAndQueue = new QueryTemplate(
  2,
  (_db, id: string, datetime: string) => sql<{ version: number }>`
    WITH target AS MATERIALIZED (SELECT version FROM orders WHERE id = ${id}::bigint FOR UPDATE)
    SELECT target.version, (SELECT queued.locks FROM (${scheduleWindowQueue(datetime)}) AS queued WHERE target.version IS NOT NULL) AS locks
    FROM target`,
);

async function lockForReplace(trx: Transaction<Database>, id: string, expected: ExpectedVersions, datetime: string): Promise<WriteRefusal | undefined> {
  const { rows } = await lockOrderAndQueue.execute(trx, id, datetime);
  return refusalFor(rows[0], expected);
}

async function lockForWrite(trx: Transaction<Database>, id: string, expected: ExpectedVersions): Promise<WriteRefusal | undefined> {
  const row = await trx.selectFrom('orders').select('version').where('id', '=', sql<string>`${id}::bigint`).forUpdate().executeTakeFirst();
  return refusalFor(row, expected);
}

function refusalFor(row: { version: number } | undefined, expected: ExpectedVersions): WriteRefusal | undefined {
  if (!row) return { refused: 'not-found' };
  if (expected !== undefined && !expected.includes(row.version)) return { refused: 'version-mismatch', currentVersion: row.version };
  return undefined;
}

export function isRefusal(result: OrderRecord | WriteRefusal | undefined): result is WriteRefusal {
  return result !== undefined && 'refused' in result;
}

/** The order whose 3-hour window overlaps that of an order at `datetime`, other than `exceptId`. */
export async function findConflictingOrder(
  db: Executor,
  datetime: string,
  exceptId?: string,
): Promise<{ id: string; datetime: Date } | undefined> {
  const { rows } = exceptId === undefined ? await conflictingOrder.execute(db, datetime) : await conflictingOtherOrder.execute(db, datetime, exceptId);
  return rows[0];
}

function conflictingOrderQuery(db: Executor, datetime: string) {
  return (
    db
      .selectFrom('orders')
      .select([sql<string>`id::text`.as('id'), 'datetime'])
      .where(sql<boolean>`${storedWindow} && ${windowOf(datetime)}`)
      .orderBy('datetime')
      .limit(1)
  );
}

const conflictingOrder = new QueryTemplate(1, (db, datetime: string) => conflictingOrderQuery(db, datetime));
const conflictingOtherOrder = new QueryTemplate(2, (db, datetime: string, exceptId: string) =>
  conflictingOrderQuery(db, datetime).where('id', '<>', sql<string>`${exceptId}::bigint`),
);

async function findUnknownServiceIds(db: Executor, serviceIds: number[]): Promise<number[]> {
  const known = await db.selectFrom('services').select('id').where('id', 'in', serviceIds).execute();
  const knownIds = new Set(known.map((s) => s.id));
  return serviceIds.filter((id) => !knownIds.has(id));
}

/**
 * Runs a write, turning constraint violations into domain errors that name the culprit. Inside a
 * caller's transaction the write gets a savepoint, so the transaction survives the violation and
 * the lookup after it can run.
 */
async function withWriteRetries<T>(db: Executor, draft: OrderDraft, orderId: string | undefined, write: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await guardedWrite(db, write);
    } catch (error) {
      const lastAttempt = attempt >= MAX_ATTEMPTS;
      if (isTransientConflict(error) && !lastAttempt) {
        // Deadlock victims that retry in lockstep collide again: a short random pause spreads them.
        await new Promise((resolve) => setTimeout(resolve, attempt * (5 + Math.random() * 20)));
        continue;
      } else if (isConstraintViolation(error, SqlState.exclusionViolation, SCHEDULE_WINDOW)) {
        const conflicting = await findConflictingOrder(db, draft.datetime, orderId);
        if (conflicting || lastAttempt) throw new ScheduleConflictError(draft.datetime, conflicting);
      } else if (isConstraintViolation(error, SqlState.foreignKeyViolation, SERVICE_REFERENCE)) {
        const unknown = await findUnknownServiceIds(db, draft.serviceIds);
        if (unknown.length > 0 || lastAttempt) throw new UnknownServicesError(unknown);
      } else {
        throw error;
      }
    }
  }
}

