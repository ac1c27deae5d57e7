/**
 * The benchmark's scenarios: one request shape each, varied per request (ids, times, cursors),
 * sent identically to the service and the ceiling (both get the same headers; the ceiling ignores
 * the key). Only the deep-page cursor differs: each server is given a cursor in its own format for
 * the same positions.
 */
import type autocannon from 'autocannon';
import { CursorCodec } from '../src/http/cursor.js';
import type { Db } from '../src/db/database.js';
import { sharedSecret } from '../src/db/secrets.js';
import { CATALOGUE, CREATED_FROM, FIRST_ID, SLOT_MS, baseTimeOf } from './load-data.js';

export type ScenarioName = 'get-one' | 'list-first' | 'list-deep' | 'create' | 'create-conflict' | 'replace';

export interface Scenario {
  name: ScenarioName;
  title: string;
  /** The status every response must have; anything else is counted as unexpected. */
  expect: number;
  /** Writes: the orders it creates are swept (and the tables vacuumed) before each run. */
  writes: boolean;
  request(target: TargetData): autocannon.Request;
}

/** What a scenario needs to know about the server it is aimed at and the data behind it. */
export interface TargetData {
  orders: number;
  headers: Record<string, string>;
  /** `cursor=` values for pages far into the data, in this server's format. */
  deepCursors: string[];
}

const HOUR = 3_600_000;
const json = (body: unknown) => JSON.stringify(body);
/** POST /orders with a fresh body per request. */
const postOrder = (t: TargetData, body: () => unknown): autocannon.Request => ({
  method: 'POST',
  path: '/orders',
  headers: { ...t.headers, 'content-type': 'application/json' },
  setupRequest: (req) => ({ ...req, body: json(body()) }),
});
const randomInt = (n: number) => Math.floor(Math.random() * n);
const randomOrderId = (orders: number) => FIRST_ID + randomInt(orders);
const randomServices = () => {
  const first = randomInt(CATALOGUE.length);
  return Array.from({ length: 1 + randomInt(3) }, (_, k) => ({ id: CATALOGUE[(first + 3 * k) % CATALOGUE.length]! }));
};

/**
 * Creates get instants that are unique for the life of this process and far apart for requests
 * in flight together: slot (seq × 7919) mod 15,000,000, 4 hours per slot, from the year 3000 to
 * 9849. Never reused, so a create still in flight when a run ends (and committed after the sweep)
 * cannot collide with the next run's. Neighbouring slots would make the service's writers queue
 * on the same advisory locks, which real traffic at scattered times does not.
 */
const CREATE_SLOTS = 15_000_000;
let createSeq = 0;
function nextCreateTime(): string {
  if (createSeq >= CREATE_SLOTS) throw new Error('ran out of unique create times (15 million per benchmark process)');
  const slot = (createSeq++ * 7919) % CREATE_SLOTS;
  return new Date(CREATED_FROM + slot * SLOT_MS).toISOString();
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

function rotating<T>(items: T[]): () => T {
  let i = 0;
  return () => items[i++ % items.length]!;
}

export const scenarios: Scenario[] = [
  {
    name: 'get-one',
    title: 'GET one order',
    expect: 200,
    writes: false,
    request: (t) => ({
      method: 'GET',
      headers: t.headers,
      setupRequest: (req) => ({ ...req, path: `/orders/${randomOrderId(t.orders)}` }),
    }),
  },
  {
    name: 'list-first',
    title: 'List, first page of 50',
    expect: 200,
    writes: false,
    request: (t) => ({ method: 'GET', path: '/orders?limit=50', headers: t.headers }),
  },
  {
    name: 'list-deep',
    title: 'List, deep page of 50',
    expect: 200,
    writes: false,
    request: (t) => {
      const next = rotating(t.deepCursors.map((c) => `/orders?limit=50&cursor=${encodeURIComponent(c)}`));
      return { method: 'GET', headers: t.headers, setupRequest: (req) => ({ ...req, path: next() }) };
    },
  },
  {
    name: 'create',
    title: 'Create',
    expect: 201,
    writes: true,
    request: (t) =>
      postOrder(t, () => ({ datetime: nextCreateTime(), totalfee: 99.5, services: [{ id: 123 }, { id: 456 }] })),
  },
  {
    name: 'create-conflict',
    title: 'Create, conflicting (409)',
    expect: 409,
    writes: true,
    // 90 minutes into a base order's slot: inside that order's 3 hours (it sits in the slot's first hour).
    request: (t) =>
      postOrder(t, () => ({
        datetime: new Date(baseTimeOf(randomOrderId(t.orders)) + 1.5 * HOUR).toISOString(),
        totalfee: 10,
        services: [{ id: 789 }],
      })),
  },
  {
    name: 'replace',
    title: 'Replace',
    expect: 200,
    writes: true,
    request: (t) => ({
      method: 'PUT',
      headers: { ...t.headers, 'content-type': 'application/json' },
      // Moves the order within the first hour of its own slot (a real move: the exclusion
      // constraint is checked), with 1–3 services, some kept and some changed.
      setupRequest: (req) => {
        const id = randomOrderId(t.orders);
        const datetime = new Date(baseTimeOf(id) + randomInt(60) * 60_000).toISOString();
        return {
          ...req,
          path: `/orders/${id}`,
          body: json({ datetime, totalfee: 10 + randomInt(1000), services: randomServices() }),
        };
      },
    }),
  },
];
