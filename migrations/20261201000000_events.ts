import { sql, type Kysely } from 'kysely';

// The transactional outbox (issue 14). Frozen once landed: change the schema with a new, later migration.
export async function up(db: Kysely<unknown>): Promise<void> {
  // One row per committed write, appended by the write's own statement. An event's position in the
  // feed is (tx_id, id): tx_id is the writing transaction's id, and the feed serves only events whose
  // transaction is older than every transaction still running (pg_snapshot_xmin), so an event that
  // commits late can never land behind a position already handed out. See docs/events.md.
  await sql`
    CREATE TABLE events (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      tx_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
      type text NOT NULL CHECK (type IN (
        'order.created', 'order.replaced', 'order.deleted', 'service.created', 'service.replaced', 'service.deleted'
      )),
      occurred_at timestamptz NOT NULL DEFAULT now(),
      actor text,
      subject_type text NOT NULL CHECK (subject_type IN ('order', 'service')),
      subject_id text NOT NULL,
      data jsonb NOT NULL
    )`.execute(db);
  // The feed's order and keyset; the history of one subject in the same order.
  await sql`CREATE INDEX events_position_idx ON events (tx_id, id)`.execute(db);
  await sql`CREATE INDEX events_subject_idx ON events (subject_type, subject_id, tx_id, id)`.execute(db);

  // The highest position retention has deleted: a feed cursor below it may have missed events (410).
  await sql`
    CREATE TABLE event_horizon (
      single boolean PRIMARY KEY DEFAULT true CHECK (single),
      tx_id xid8 NOT NULL,
      id bigint NOT NULL
    )`.execute(db);
  await sql`INSERT INTO event_horizon (tx_id, id) VALUES ('0'::xid8, 0)`.execute(db);

  // What existed before the feed: one creation event each, as the API shows it now, with no actor,
  // so that an existing order's history is not empty. Services first, as an order refers to them.
  await sql`
    INSERT INTO events (type, actor, subject_type, subject_id, data)
    SELECT 'service.created', NULL, 'service', s.id::text, jsonb_build_object('id', s.id, 'name', s.name)
    FROM services s ORDER BY s.id`.execute(db);
  await sql`
    INSERT INTO events (type, actor, subject_type, subject_id, data)
    SELECT 'order.created', NULL, 'order', o.id::text, jsonb_build_object(
      'id', o.id::text,
      'datetime', to_char(o.datetime AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
      'totalfee', o.totalfee,
      'services', (
        SELECT coalesce(jsonb_agg(jsonb_build_object('id', s.id, 'name', s.name) ORDER BY s.id), '[]')
        FROM order_services os JOIN services s ON s.id = os.service_id WHERE os.order_id = o.id
      ),
      'createdAt', to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
      'updatedAt', to_char(o.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
      'createdBy', o.created_by,
      'updatedBy', o.updated_by
    )
    FROM orders o ORDER BY o.id`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE event_horizon`.execute(db);
  await sql`DROP TABLE events`.execute(db);
}
