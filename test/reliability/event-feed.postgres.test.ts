import pg from 'pg';
import t from 'tap';
import { sql } from 'kysely';
import type { components } from '../../src/client.js';
import { allScopes } from '../../src/keys/model.js';
import { createApiKey } from '../../src/keys/use-cases.js';
import { freshDatabase } from '../helpers/database.js';
import { seedCatalogue } from '../helpers/fixtures.js';
import { typedClient } from '../helpers/http.js';
import { freePorts, startServerProcess } from './processes.js';

// The feed never skips: writers whose transactions are deliberately slow commit after faster ones
// that took a later event number, while readers poll GET /events without pause through three
// server processes. Every committed event is seen exactly once, in one order for every reader,
// and no rolled-back event is ever seen. A naive reader (WHERE id > last ORDER BY id) running
// alongside shows that the scenario does make events land behind a cursor.

const { db, target } = await freshDatabase(t);
if (target.kind !== 'postgres') throw new Error('this test needs the Postgres suite');
await seedCatalogue(db);
const { key } = await createApiKey(db, 'feed-test', allScopes);

type Event = components['schemas']['Event'];

const servers = await Promise.all(
  (await freePorts(3)).map((port) => startServerProcess(t, { databaseUrl: target.url, port })),
);
const clients = servers.map((s) => typedClient(s.url, key));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const WRITE_MS = 6_000;

t.test(
  'slow writers commit late; readers polling without pause see every committed event once, in one order',
  async (t) => {
    let writing = true;
    const stats = { apiWrites: 0, slowCommits: 0, slowRollbacks: 0, naiveMissed: 0 };

    /** Fast writes through the API, round-robin over the processes: create, move, delete. */
    async function apiWriter(w: number) {
      for (let i = 0; writing; i++) {
        const c = clients[(w + i) % clients.length]!;
        const datetime = new Date(Date.UTC(2040, w, 1 + (i % 28), 3 * (i % 8))).toISOString();
        const created = await c.POST('/orders', { body: { datetime, totalfee: i, services: [{ id: 123 }] } });
        if (created.response.status !== 201) continue;
        const orderId = created.data!.id;
        await c.PUT('/orders/{orderId}', {
          params: { path: { orderId } },
          body: { datetime, totalfee: i + 1, services: [{ id: 456 }] },
        });
        await c.DELETE('/orders/{orderId}', { params: { path: { orderId } } });
        stats.apiWrites += 3;
      }
    }

    /**
     * A writer whose transaction is slow: it writes a service and its event (so the event takes its
     * number, and its transaction its id), then holds the transaction open while the fast writers
     * commit later-numbered events, then commits (or, one time in four, rolls back).
     */
    async function slowWriter(w: number) {
      const client = new pg.Client({ connectionString: target.kind === 'postgres' ? target.url : '' });
      await client.connect();
      try {
        for (let i = 0; writing; i++) {
          const id = 800_000 + w * 10_000 + i;
          await client.query('BEGIN');
          await client.query(
            `WITH created AS (INSERT INTO services (id, name) VALUES ($1, $2) RETURNING id, name)
           INSERT INTO events (type, actor, subject_type, subject_id, data)
           SELECT 'service.created', 'slow-writer', 'service', id::text, jsonb_build_object('id', id, 'name', name)
           FROM created`,
            [id, `Slow ${id}`],
          );
          await sleep(100 + Math.random() * 400);
          if (i % 4 === 3) {
            await client.query('ROLLBACK');
            stats.slowRollbacks++;
          } else {
            await client.query('COMMIT');
            stats.slowCommits++;
          }
        }
      } finally {
        await client.end();
      }
    }

    /** Polls the feed without pause, through the processes in turn, with varying page sizes. */
    async function reader(r: number, until: () => boolean) {
      const seen: Event[] = [];
      let after: string | undefined;
      let emptyAfterEnd = 0;
      for (let i = 0; emptyAfterEnd < 2; i++) {
        const done = until();
        const c = clients[(r + i) % clients.length]!;
        const limit = 1 + ((i * 7 + r) % 20);
        const res = await c.GET('/events', { params: { query: { limit, ...(after ? { after } : {}) } } });
        if (res.response.status !== 200 || !res.data) throw new Error(`reader ${r}: ${res.response.status}`);
        seen.push(...res.data.data);
        after = res.data.nextCursor;
        if (done && res.data.data.length === 0) emptyAfterEnd++;
      }
      return seen;
    }

    /** The classic mistake, for contrast: events by id after the last id seen, straight from the table. */
    async function naiveReader(until: () => boolean) {
      const seen = new Set<string>();
      let last = '0';
      let emptyAfterEnd = 0;
      while (emptyAfterEnd < 2) {
        const done = until();
        const { rows } = await sql<{ id: string }>`
        SELECT id::text AS id FROM events WHERE id > ${last}::bigint ORDER BY id LIMIT 20`.execute(db);
        for (const row of rows) seen.add(row.id);
        if (rows.length > 0) last = rows[rows.length - 1]!.id;
        if (done && rows.length === 0) emptyAfterEnd++;
      }
      return seen;
    }

    let writersDone = false;
    const writers = [...[0, 1, 2, 3, 4, 5].map((w) => apiWriter(w)), ...[0, 1, 2, 3].map((w) => slowWriter(w))];
    const readers = [0, 1].map((r) => reader(r, () => writersDone));
    const naive = naiveReader(() => writersDone);
    await sleep(WRITE_MS);
    writing = false;
    await Promise.all(writers);
    writersDone = true;
    const [first, second] = await Promise.all(readers);
    const naiveSeen = await naive;

    const { rows: committed } = await sql<{ id: string }>`
    SELECT id::text AS id FROM events ORDER BY tx_id, id`.execute(db);
    const committedIds = committed.map((r) => r.id);
    stats.naiveMissed = committedIds.filter((id) => !naiveSeen.has(id)).length;
    t.comment(JSON.stringify({ ...stats, events: committedIds.length }));
    t.ok(stats.apiWrites > 30 && stats.slowCommits > 5 && stats.slowRollbacks > 1, 'both kinds of writer wrote');

    for (const [name, seen] of [
      ['reader 1', first!],
      ['reader 2', second!],
    ] as const) {
      const ids = seen.map((e) => e.id);
      t.equal(new Set(ids).size, ids.length, `${name} saw no event twice`);
      t.same(ids, committedIds, `${name} saw every committed event, in the order of (transaction, id)`);
      t.notOk(
        seen.some((e) => e.actor === 'slow-writer' && e.type !== 'service.created'),
        `${name}: events as written`,
      );
    }
    const { rows: leftovers } = await sql<{ n: number }>`
    SELECT count(*)::integer AS n FROM services WHERE name LIKE 'Slow %'`.execute(db);
    t.equal(
      first!.filter((e) => e.actor === 'slow-writer').length,
      leftovers[0]!.n,
      'exactly the slow writes that committed, none that rolled back',
    );
    t.ok(
      stats.naiveMissed > 0,
      `the naive reader by id missed ${stats.naiveMissed} committed events: the race happened`,
    );

    for (const server of servers) {
      const errors = server.output.filter((line) => /"level":(5|6)\d/.test(line));
      t.same(errors, [], 'no process logged an error');
    }
  },
);
