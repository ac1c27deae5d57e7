import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileMigrationProvider, Migrator, sql } from 'kysely';
import t from 'tap';
import { buildApp } from '../../src/app.js';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { seedSampleData } from '../../src/db/seed.js';
import { createApiKey } from '../../src/keys/use-cases.js';
import { freshDatabaseTarget } from '../helpers/database.js';
import { storedEvents } from '../helpers/events.js';
import { typedClient } from '../helpers/http.js';

const migrationFolder = fileURLToPath(new URL('../../migrations', import.meta.url));

t.test('the events migration gives every existing service and order its creation event, with no actor', async (t) => {
  const target = await freshDatabaseTarget(t);
  const { db } = await openDatabase(target);
  t.teardown(() => db.destroy());
  const migrator = new Migrator({ db, provider: new FileMigrationProvider({ fs, path, migrationFolder }) });
  const { error } = await migrator.migrateTo('20261122010000_api_keys_idempotency_versions');
  t.error(error, 'migrated to the schema before events');
  // Data as an earlier version wrote it: a renamed service and an order changed since it was created.
  await sql`INSERT INTO services (id, name) VALUES (123, 'Inspection'), (456, 'Analysis')`.execute(db);
  await sql`
    INSERT INTO orders (id, datetime, totalfee, created_by, updated_by, version)
    VALUES (223, '2022-11-01T11:11:11.111Z', 100.5, 'billing', 'dispatch', 3),
           (224, '2022-11-01T14:11:11.111Z', 0, NULL, NULL, 1)`.execute(db);
  await sql`INSERT INTO order_services VALUES (223, 456), (223, 123), (224, 123)`.execute(db);

  await migrateToLatest(db);
  const { key } = await createApiKey(db, 'reader', ['orders:read', 'events:read']);
  const app = await buildApp({ db, http: { rateLimitPerMinute: 0 } });
  t.teardown(() => app.close());
  const client = typedClient(await app.listen({ port: 0, host: '127.0.0.1' }), key);

  const events = await storedEvents(db);
  t.same(
    events.map((e) => [e.type, e.subjectType, e.subjectId, e.actor]),
    [
      ['service.created', 'service', '123', null],
      ['service.created', 'service', '456', null],
      ['order.created', 'order', '223', null],
      ['order.created', 'order', '224', null],
    ],
    'services first, then orders, each by id',
  );
  t.same(events[0]!.data, { id: 123, name: 'Inspection' });
  for (const id of ['223', '224']) {
    const order = await client.GET('/orders/{orderId}', { params: { path: { orderId: id } } });
    const history = await client.GET('/orders/{orderId}/history', { params: { path: { orderId: id } } });
    t.equal(history.response.status, 200, `order ${id} has a history`);
    t.strictSame(
      history.data?.data.map((e) => e.data),
      [order.data],
      `its one event shows order ${id} as GET does`,
    );
  }
});

t.test('seeded sample data comes with its creation events, with no actor', async (t) => {
  const target = await freshDatabaseTarget(t);
  const { db } = await openDatabase(target);
  t.teardown(() => db.destroy());
  await migrateToLatest(db);
  await seedSampleData(db);
  t.same(
    (await storedEvents(db)).map((e) => [e.type, e.subjectId, e.actor]),
    [
      ['service.created', '123', null],
      ['service.created', '456', null],
      ['service.created', '789', null],
      ['order.created', '223', null],
      ['order.created', '224', null],
      ['order.created', '225', null],
    ],
  );
  await seedSampleData(db);
  t.equal((await storedEvents(db)).length, 6, 'seeding again appends nothing');
});
