import { sql } from 'kysely';
import type { Db } from '../../src/db/database.js';

/** An event as stored, in feed order, for assertions on what a write appended. */
export interface StoredEvent {
  id: string;
  type: string;
  actor: string | null;
  subjectType: string;
  subjectId: string;
  data: unknown;
}

/** Every stored event, in feed order (transaction, then id). */
export async function storedEvents(db: Db): Promise<StoredEvent[]> {
  const { rows } = await sql<{
    id: string;
    type: string;
    actor: string | null;
    subject_type: string;
    subject_id: string;
    data: unknown;
  }>`SELECT id::text AS id, type, actor, subject_type, subject_id, data FROM events ORDER BY tx_id, id`.execute(db);
  return rows.map((r) => ({
    id: r.id,
    type: r.type,
    actor: r.actor,
    subjectType: r.subject_type,
    subjectId: r.subject_id,
    data: r.data,
  }));
}

/** The events `write` appended (those stored after it that were not before). */
export async function eventsAppendedBy(db: Db, write: () => Promise<unknown>): Promise<StoredEvent[]> {
  return (await writeAndEvents(db, write)).appended;
}

/** What `write` resolved to, and the events it appended. */
export async function writeAndEvents<T>(
  db: Db,
  write: () => Promise<T>,
): Promise<{ result: T; appended: StoredEvent[] }> {
  const before = new Set((await storedEvents(db)).map((e) => e.id));
  const result = await write();
  return { result, appended: (await storedEvents(db)).filter((e) => !before.has(e.id)) };
}
