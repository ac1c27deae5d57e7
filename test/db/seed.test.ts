import t from 'tap';
import { seedSampleData } from '../../src/db/seed.js';
import { countRows } from '../helpers/database.js';
import { orderBody } from '../helpers/fixtures.js';
import { startService } from '../helpers/service.js';

const { client, db } = await startService(t);

const read = (orderId: string) => client.GET('/orders/{orderId}', { params: { path: { orderId } } });

t.test('the seed loads the sample catalogue and the three sample orders, 3 hours apart', async (t) => {
  t.same(await seedSampleData(db), { services: 3, orders: 3 });
  const services = await client.GET('/services');
  t.same(services.data?.data, [
    { id: 123, name: 'Inspection' },
    { id: 456, name: 'Analysis' },
    { id: 789, name: 'Testing' },
  ]);
  const orders = await client.GET('/orders');
  t.same(
    orders.data?.data.map((o) => [o.id, o.datetime, o.totalfee, o.services.map((s) => s.id)]),
    [
      ['223', '2022-11-01T11:11:11.111Z', 100, [123]],
      ['224', '2022-11-01T14:11:11.111Z', 100, [789]],
      ['225', '2022-11-01T17:11:11.111Z', 100, [456]],
    ],
  );
});

t.test('seeding again changes nothing', async (t) => {
  const before = await client.GET('/orders');
  t.same(await seedSampleData(db), { services: 0, orders: 0 });
  t.same((await client.GET('/orders')).data, before.data);
  t.equal(await countRows(db, 'services'), 3);
  t.equal(await countRows(db, 'order_services'), 3);
});

t.test('orders created after the seed get new ids that do not collide with the sample ids', async (t) => {
  const { data, response } = await client.POST('/orders', { body: orderBody('2030-01-01T00:00:00Z') });
  t.equal(response.status, 201);
  t.ok(BigInt(data!.id) >= 1000n, `new id ${data!.id} is above the sample range`);
});

t.test(
  'the seed leaves an edited sample order alone and never re-creates a deleted one over a taken slot',
  async (t) => {
    await client.PUT('/orders/{orderId}', {
      params: { path: { orderId: '223' } },
      body: orderBody('2022-11-01T11:11:11.111Z', { totalfee: 5 }),
    });
    t.equal((await client.DELETE('/orders/{orderId}', { params: { path: { orderId: '224' } } })).response.status, 204);
    const taker = await client.POST('/orders', { body: orderBody('2022-11-01T14:11:11.111Z') });
    t.equal(taker.response.status, 201, "another order takes 224's slot");
    t.same(await seedSampleData(db), { services: 0, orders: 0 });
    t.equal((await read('223')).data?.totalfee, 5, 'edited order kept');
    t.equal((await read('224')).response.status, 404, 'no sample order squeezed into a taken slot');
  },
);
