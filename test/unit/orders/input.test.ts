import t from 'tap';
import { problemThrownBy } from '../../helpers/problems.js';
import { ProblemError } from '../../../src/http/problem.js';
import { orderDraftFrom } from '../../../src/orders/input.js';

const base = { datetime: '2022-11-01T11:11:11.111Z', totalfee: 100, services: [{ id: 123 }] };

/** The `errors` of the 400 that orderDraftFrom throws for this input. */
function errorsFor(input: Parameters<typeof orderDraftFrom>[0], pathId?: string) {
  return problemThrownBy(() => orderDraftFrom(input, pathId)).problem.errors;
}

t.test('a valid input becomes a draft: UTC instant, exact fee text, numeric service ids', async (t) => {
  t.strictSame(
    orderDraftFrom({
      datetime: '2022-11-01T12:11:11.1119+01:00',
      totalfee: 150.5,
      services: [{ id: 456 }, { id: '123' }],
    }),
    {
      datetime: '2022-11-01T11:11:11.111Z',
      totalfee: '150.5',
      serviceIds: [456, 123],
    },
  );
});

t.test('a refused input is a ProblemError 400 of type validation with the field errors', async (t) => {
  const error = problemThrownBy(() => orderDraftFrom({ ...base, totalfee: 1.005 }));
  t.ok(error instanceof ProblemError);
  // The envelope of a validation problem is invalidRequest's (test/unit/http/problem.test.ts).
  t.equal(error.status, 400);
  t.equal(error.problem.type, '/problems/validation');
  t.strictSame(error.problem.errors, [{ path: '/body/totalfee', message: 'must have at most 2 decimal places' }]);
});

t.test('the fee is decided on its exact decimal text: 100.1 and 0.07 are two decimals at most', async (t) => {
  // Float arithmetic (100.1 * 100 = 10009.999999999998) would refuse these.
  t.equal(orderDraftFrom({ ...base, totalfee: 100.1 }).totalfee, '100.1');
  t.equal(orderDraftFrom({ ...base, totalfee: 0.07 }).totalfee, '0.07');
  t.equal(orderDraftFrom({ ...base, totalfee: 1.1 }).totalfee, '1.1');
  t.equal(orderDraftFrom({ ...base, totalfee: 999999999999.99 }).totalfee, '999999999999.99');
  t.equal(orderDraftFrom({ ...base, totalfee: 0 }).totalfee, '0', 'a free order');
  t.equal(orderDraftFrom({ ...base, totalfee: 100 }).totalfee, '100');
});

t.test('a fee with more than two decimals is refused, even where float rounding would hide it', async (t) => {
  const feeError = [{ path: '/body/totalfee', message: 'must have at most 2 decimal places' }];
  t.strictSame(errorsFor({ ...base, totalfee: 1.005 }), feeError, '1.005 * 100 is 100.49999999999999 in floats');
  t.strictSame(errorsFor({ ...base, totalfee: 0.001 }), feeError);
  t.strictSame(errorsFor({ ...base, totalfee: 1e-7 }), feeError, 'written 1e-7 by JavaScript');
  t.strictSame(errorsFor({ ...base, totalfee: 1e21 }), feeError, 'written 1e+21 by JavaScript');
});

t.test('a duplicated service is refused at the path of the duplicate, naming the service', async (t) => {
  t.strictSame(errorsFor({ ...base, services: [{ id: 123 }, { id: 456 }, { id: 123 }] }), [
    { path: '/body/services/2/id', message: 'duplicates service 123' },
  ]);
});

t.test('a service id as text and as a number is the same service', async (t) => {
  t.strictSame(errorsFor({ ...base, services: [{ id: '123' }, { id: 123 }] }), [
    { path: '/body/services/1/id', message: 'duplicates service 123' },
  ]);
});

t.test('each further duplicate is reported at its own path', async (t) => {
  t.strictSame(errorsFor({ ...base, services: [{ id: 1 }, { id: 1 }, { id: 2 }, { id: 1 }, { id: 2 }] }), [
    { path: '/body/services/1/id', message: 'duplicates service 1' },
    { path: '/body/services/3/id', message: 'duplicates service 1' },
    { path: '/body/services/4/id', message: 'duplicates service 2' },
  ]);
});

t.test('a body id equal to the path id is accepted, compared as a number ("0123" is 123)', async (t) => {
  t.strictSame(orderDraftFrom({ ...base, id: '123' }, '123').serviceIds, [123]);
  t.strictSame(orderDraftFrom({ ...base, id: '0123' }, '123').serviceIds, [123]);
  t.strictSame(orderDraftFrom({ ...base, id: '123' }, '0123').serviceIds, [123]);
});

t.test('a body may leave the id out', async (t) => {
  t.equal(orderDraftFrom(base, '123').totalfee, '100');
});

t.test('without a path id (create) a body id is ignored', async (t) => {
  t.equal(orderDraftFrom({ ...base, id: '999' }).totalfee, '100');
});

t.test('a body id that differs from the path id is refused', async (t) => {
  const mismatch = [{ path: '/body/id', message: 'must equal the order id in the path (123) or be left out' }];
  t.strictSame(errorsFor({ ...base, id: '124' }, '123'), mismatch);
  t.strictSame(errorsFor({ ...base, id: '1230' }, '123'), mismatch);
  t.strictSame(errorsFor({ ...base, id: 'abc' }, '123'), mismatch, 'not an order id at all');
  t.strictSame(errorsFor({ ...base, id: '' }, '123'), mismatch, 'empty');
});

t.test('an impossible instant is refused at /body/datetime', async (t) => {
  t.strictSame(errorsFor({ ...base, datetime: '2016-12-31T23:59:60Z' }), [
    { path: '/body/datetime', message: 'is not a real instant between years 0001 and 9999' },
  ]);
  t.strictSame(errorsFor({ ...base, datetime: '0000-12-31T23:00:00Z' }), [
    { path: '/body/datetime', message: 'is not a real instant between years 0001 and 9999' },
  ]);
});

t.test('every error is reported together, in field order', async (t) => {
  t.strictSame(
    errorsFor({ id: '7', datetime: '2016-12-31T23:59:60Z', totalfee: 1.005, services: [{ id: 5 }, { id: '5' }] }, '8'),
    [
      { path: '/body/datetime', message: 'is not a real instant between years 0001 and 9999' },
      { path: '/body/totalfee', message: 'must have at most 2 decimal places' },
      { path: '/body/services/1/id', message: 'duplicates service 5' },
      { path: '/body/id', message: 'must equal the order id in the path (8) or be left out' },
    ],
  );
});
