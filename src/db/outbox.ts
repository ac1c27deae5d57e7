import { sql, type RawBuilder } from 'kysely';

/**
 * The transactional outbox: every committed write appends one row to `events` in its own
 * statement, so the event commits (or rolls back) with the change it describes. The writing
 * features build their statements with this fragment; the events feature reads the table.
 */

export const eventTypes = [
  'order.created',
  'order.replaced',
  'order.deleted',
  'service.created',
  'service.replaced',
  'service.deleted',
] as const;
export type EventType = (typeof eventTypes)[number];

export interface EventAppend {
  type: EventType;
  /** The API key's name, a bound value; null for seeded data. */
  actor: unknown;
  subjectType: 'order' | 'service';
  /** SQL for the subject's id as text, read from `source`. */
  subjectId: RawBuilder<unknown>;
  /** SQL for the resource as the API shows it (jsonb), read from `source`. */
  data: RawBuilder<unknown>;
}

/**
 * `INSERT INTO events … SELECT … FROM source`: one event per row of `source` (a CTE of the rows the
 * write changed), none when the write changed nothing (a refused insert, an unknown id). The type
 * and subject type are literals, so a query template's text stays fixed.
 */
export function appendEvents(source: RawBuilder<unknown>, event: EventAppend): RawBuilder<unknown> {
  return sql`INSERT INTO events (type, actor, subject_type, subject_id, data)
    SELECT ${sql.lit(event.type)}, ${event.actor}::text, ${sql.lit(event.subjectType)}, ${event.subjectId}, ${event.data}
    FROM ${source}`;
}

/** An instant column as the API writes it (UTC, milliseconds), in SQL: for JSON built by the database. */
export function isoInstantSql(column: RawBuilder<unknown>): RawBuilder<string> {
  return sql<string>`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}
