/**
 * The benchmark's scenarios: one request shape each, varied per request (ids, times, cursors) by
 * bench/wrk/scenario.lua, sent identically to the service and the ceiling (both get the same
 * headers; the ceiling ignores the key). Only the deep-page cursor differs: each server is given
 * a cursor in its own format for the same positions.
 */
import { sql } from 'kysely';
import { CursorCodec } from '../src/http/cursor.js';
import type { Db } from '../src/db/database.js';
import { sharedSecret } from '../src/db/secrets.js';
import { FIRST_ID, baseTimeOf } from './load-data.js';

export type ScenarioName =
  | 'get-one'
  | 'list-first'
  | 'list-deep'
  | 'create'
  | 'create-conflict'
  | 'replace'
  | 'availability-7d'
  | 'nearest'
  | 'events-first'
  | 'events-deep';

export interface Scenario {
  /** Also the scenario's name in bench/wrk/scenario.lua. */
  name: ScenarioName;
  title: string;
  /** The status every response must have; anything else is counted as unexpected. */
  expect: number;
  /** Writes: the orders it creates are swept (and the tables vacuumed) before each run. */
  writes: boolean;
}

/** What a scenario needs to know about the server it is aimed at and the data behind it. */
export interface TargetData {
  orders: number;
  authorization: string;
  /** Paths of pages far into the data (`cursor=` in this server's format), for list-deep. */
  deepPaths: string[];
  /** The same for the change feed (`after=`), for events-deep. */
  eventDeepPaths: string[];
}

/** Positions a quarter of the data wide, from the middle on: every page is a full 50. */
export function deepPositions(orders: number, count = 64): Array<[string, string]> {
  return Array.from({ length: count }, (_, i) => {
    const id = FIRST_ID + Math.floor(orders * (0.5 + (0.25 * i) / count));
    return [new Date(baseTimeOf(id)).toISOString(), String(id)];
  });
}

/** The service's cursors: what its CursorCodec would issue (HMAC with the database's secret). */
export async function serviceCursors(db: Db, positions: Array<[string, string]>): Promise<string[]> {
  const codec = new CursorCodec(() => sharedSecret(db, 'cursor-signing'));
  return Promise.all(positions.map((p) => codec.encode(p)));
}

/** The ceiling's cursors: base64url of the same JSON array, unsigned. */
export function ceilingCursors(positions: Array<[string, string]>): string[] {
  return positions.map((p) => Buffer.from(JSON.stringify(p)).toString('base64url'));
}

export const scenarios: Scenario[] = [
  { name: 'get-one', title: 'GET one order', expect: 200, writes: false },
  { name: 'list-first', title: 'List, first page of 50', expect: 200, writes: false },
  { name: 'list-deep', title: 'List, deep page of 50', expect: 200, writes: false },
  { name: 'create', title: 'Create', expect: 201, writes: true },
  { name: 'create-conflict', title: 'Create, conflicting (409)', expect: 409, writes: true },
  { name: 'replace', title: 'Replace', expect: 200, writes: true },
  // Free windows of 7 days starting at a random base order: bounded by the range (42 orders).
  { name: 'availability-7d', title: 'Availability, 7 days', expect: 200, writes: false },
  // 90 minutes into a random base order's slot, like create-conflict: the answer walks that day's
  // run of back-to-back orders to the free time at either end (see bench/load-data.ts).
  { name: 'nearest', title: 'Nearest free time', expect: 200, writes: false },
  // The change feed: a page of 100 from its start, and from a cursor halfway through (one event per
  // base order, bench/load-data.ts).
  { name: 'events-first', title: 'Events, first page of 100', expect: 200, writes: false },
  { name: 'events-deep', title: 'Events, deep page of 100', expect: 200, writes: false },
];

/** Feed positions (tx_id, id) from the middle on, a quarter of the events wide: every page is a full 100. */
export async function eventDeepPositions(db: Db, count = 64): Promise<Array<[string, string]>> {
  const { rows } = await sql<{ tx_id: string; id: string }>`
    WITH span AS (SELECT min(id) AS low, max(id) AS high FROM events)
    SELECT e.tx_id::text AS tx_id, e.id::text AS id
    FROM span, generate_series(0, ${count - 1}) AS i,
      LATERAL (SELECT tx_id, id FROM events WHERE id >= span.low + (span.high - span.low) * (0.5 + 0.25 * i / ${count}) ORDER BY id LIMIT 1) AS e
    ORDER BY i`.execute(db);
  return rows.map((row) => [row.tx_id, row.id]);
}

/** The service's feed cursors: what its CursorCodec issues for those positions (tagged `feed`). */
export async function serviceEventPaths(db: Db, positions: Array<[string, string]>): Promise<string[]> {
  const codec = new CursorCodec(() => sharedSecret(db, 'cursor-signing'));
  const cursors = await Promise.all(positions.map(([txId, id]) => codec.encode(['feed', txId, id])));
  return cursors.map((cursor) => `/events?limit=100&after=${encodeURIComponent(cursor)}`);
}

/** The ceiling's: base64url of the JSON [tx_id, id]. */
export function ceilingEventPaths(positions: Array<[string, string]>): string[] {
  return positions.map(
    (p) => `/events?limit=100&after=${encodeURIComponent(Buffer.from(JSON.stringify(p)).toString('base64url'))}`,
  );
}

/** The list-deep paths for a server, from its cursors. */
export function deepPathsOf(cursors: string[]): string[] {
  return cursors.map((cursor) => `/orders?limit=50&cursor=${encodeURIComponent(cursor)}`);
}
