import t from 'tap';
import { ProblemError } from '../../../src/http/problem.js';
import {
  OrderNotFoundError,
  OrderVersionMismatchError,
  ScheduleConflictError,
  UnknownServicesError,
  type OrderRecord,
} from '../../../src/orders/model.js';
import { orderProblem, toOrder } from '../../../src/orders/routes.js';

const record: OrderRecord = {
  id: '223',
  datetime: '2022-11-01T11:11:11.111Z',
  totalfee: '150.50',
  services: [{ id: 123, name: 'Inspection' }],
  createdAt: '2022-10-01T08:00:00.000Z',
  updatedAt: '2022-10-02T09:30:00.000Z',
  createdBy: 'alice',
  updatedBy: null,
  version: 4,
};

t.test('toOrder shows an order with UTC ISO instants, the fee as a JSON number, and no version', async (t) => {
  t.strictSame(toOrder(record), {
    id: '223',
    datetime: '2022-11-01T11:11:11.111Z',
    totalfee: 150.5,
    services: [{ id: 123, name: 'Inspection' }],
    createdAt: '2022-10-01T08:00:00.000Z',
    updatedAt: '2022-10-02T09:30:00.000Z',
    createdBy: 'alice',
    updatedBy: null,
  });
});

t.test('toOrder keeps the exact value of a stored fee', async (t) => {
  t.equal(toOrder({ ...record, totalfee: '0.07' }).totalfee, 0.07);
  t.equal(toOrder({ ...record, totalfee: '999999999999.99' }).totalfee, 999999999999.99);
  t.equal(toOrder({ ...record, totalfee: '0.00' }).totalfee, 0);
});

t.test('a schedule conflict is a 409 naming the order in the way and its datetime', async (t) => {
  const conflict = new ScheduleConflictError('2022-11-01T12:00:00.000Z', {
    id: '17',
    datetime: '2022-11-01T11:11:11.111Z',
  });
  const problem = orderProblem(conflict);
  t.ok(problem instanceof ProblemError);
  t.equal(problem?.status, 409);
  t.strictSame(problem?.headers, {});
  t.strictSame(problem?.problem, {
    type: '/problems/schedule-conflict',
    title: 'Schedule conflict',
    status: 409,
    detail:
      'Order 17 is scheduled at 2022-11-01T11:11:11.111Z, less than 3 hours from 2022-11-01T12:00:00.000Z. ' +
      'Orders must be at least 3 hours apart.',
    conflictingOrderId: '17',
    conflictingDatetime: '2022-11-01T11:11:11.111Z',
  });
});

t.test('a schedule conflict whose order vanished is a 409 without the conflicting order', async (t) => {
  t.strictSame(orderProblem(new ScheduleConflictError('2022-11-01T12:00:00.000Z', undefined))?.problem, {
    type: '/problems/schedule-conflict',
    title: 'Schedule conflict',
    status: 409,
    detail: 'Another order is scheduled less than 3 hours from 2022-11-01T12:00:00.000Z.',
  });
});

t.test('one unknown service is a 422 naming it', async (t) => {
  t.strictSame(orderProblem(new UnknownServicesError([999]))?.problem, {
    type: '/problems/unknown-service',
    title: 'Unknown service',
    status: 422,
    detail: 'Service 999 is not in the catalogue.',
    unknownServiceIds: [999],
  });
});

t.test('several unknown services are a 422 naming them all', async (t) => {
  t.strictSame(orderProblem(new UnknownServicesError([998, 999]))?.problem, {
    type: '/problems/unknown-service',
    title: 'Unknown service',
    status: 422,
    detail: 'Services 998, 999 are not in the catalogue.',
    unknownServiceIds: [998, 999],
  });
});

t.test('an unknown order is a 404', async (t) => {
  t.strictSame(orderProblem(new OrderNotFoundError('42'))?.problem, {
    type: '/problems/not-found',
    title: 'Not found',
    status: 404,
    detail: 'There is no order 42.',
  });
});

t.test("a version mismatch is a 412 that carries the order's current ETag as a header", async (t) => {
  const problem = orderProblem(new OrderVersionMismatchError('223', 5));
  t.equal(problem?.status, 412);
  t.strictSame(problem?.headers, { etag: '"223-5"' });
  t.strictSame(problem?.problem, {
    type: '/problems/precondition-failed',
    title: 'Precondition failed',
    status: 412,
    detail: 'Order 223 has changed: its ETag is now "223-5".',
  });
});

t.test('an error that is not an orders refusal is left to other mappings', async (t) => {
  t.equal(orderProblem(new Error('boom')), undefined);
  t.equal(orderProblem(new ProblemError('conflict', 'another feature')), undefined);
  t.equal(orderProblem({ code: '23P01' }), undefined);
  t.equal(orderProblem(undefined), undefined);
  t.equal(orderProblem(null), undefined);
});
