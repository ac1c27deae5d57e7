import t from 'tap';
import { seedSampleData } from '../src/db/seed.js';
import { countRows, orderBody, startService } from './helper.js';

const { api, db } = await startService(t);

t.test('the seed loads the sample catalogue and the three sample orders, 3 hours apart', async (t) => {
  t.same(await seedSampleData(db), { services: 3, orders: 3 });
  const services = await api.get('/services');
  t.same(services.body.data, [
    { id: 123, name: 'Inspection' },
    { id: 456, name: 'Analysis' },
    { id: 789, name: 'Testing' },
  ]);
  const orders = await api.get('/orders');
  t.same(
    orders.body.data.map((o: { id: string; datetime: string; totalfee: number; services: { id: number }[] }) => [o.id, o.datetime, o.totalfee, o.services.map((s) => s.id)]),
    [
      ['223', '2022-11-01T11:11:11.111Z', 100, [123]],
      ['224', '2022-11-01T14:11:11.111Z', 100, [789]],
      ['225', '2022-11-01T17:11:11.111Z', 100, [456]],
    ],
  );
});

t.test('seeding again changes nothing', async (t) => {
  const before = await api.get('/orders');
  t.same(await seedSampleData(db), { services: 0, orders: 0 });
  t.same((await api.get('/orders')).body, before.body);
  t.equal(await countRows(db, 'services'), 3);
  t.equal(await countRows(db, 'order_services'), 3);
});

t.test('orders created after the seed get new ids that do not collide with the sample ids', async (t) => {
  const res = await api.post('/orders', orderBody('2030-01-01T00:00:00Z'));
  t.equal(res.status, 201);
  t.ok(BigInt(res.body.id) >= 1000n, `new id ${res.body.id} is above the sample range`);
});

t.test('the seed leaves an edited sample order alone and never re-creates a deleted one over a taken slot', async (t) => {
  await api.put('/orders/223', orderBody('2022-11-01T11:11:11.111Z', { totalfee: 5 }));
  t.equal((await api.delete('/orders/224')).status, 204);
  const taker = await api.post('/orders', orderBody('2022-11-01T14:11:11.111Z'));
  t.equal(taker.status, 201, "another order takes 224's slot");
  t.same(await seedSampleData(db), { services: 0, orders: 0 });
  t.equal((await api.get('/orders/223')).body.totalfee, 5, 'edited order kept');
  t.equal((await api.get('/orders/224')).status, 404, 'no sample order squeezed into a taken slot');
});
