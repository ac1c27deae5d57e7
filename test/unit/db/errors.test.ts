import t from 'tap';
import {
  SqlState,
  isConstraintViolation,
  isDataException,
  isDatabaseUnavailable,
  isTransientConflict,
} from '../../../src/db/errors.js';

/** A driver error as `pg` and PGlite throw it: an Error with the SQLSTATE as `code`. */
function driverError(code: string, extra: Record<string, unknown> = {}, message = 'driver message') {
  return Object.assign(new Error(message), { code, ...extra });
}

t.test('SQLSTATE codes of the constraints the service maps', async (t) => {
  t.strictSame(SqlState, {
    uniqueViolation: '23505',
    foreignKeyViolation: '23503',
    exclusionViolation: '23P01',
    restrictViolation: '23001',
  });
});

t.test('a deadlock (40P01) or a serialization failure (40001) is a transient conflict worth retrying', async (t) => {
  t.equal(isTransientConflict(driverError('40P01')), true);
  t.equal(isTransientConflict(driverError('40001')), true);
  t.equal(isTransientConflict({ code: '40001' }), true, 'a plain object shaped like a driver error');
});

t.test('other errors are not transient conflicts', async (t) => {
  t.equal(isTransientConflict(driverError('23P01')), false, 'an exclusion violation is a real conflict');
  t.equal(isTransientConflict(driverError('40002')), false);
  t.equal(isTransientConflict(new Error('40P01')), false, 'the code, not the message');
  t.equal(isTransientConflict(null), false);
  t.equal(isTransientConflict(undefined), false);
  t.equal(isTransientConflict('40P01'), false);
});

t.test('a constraint violation matches on both SQLSTATE and constraint name', async (t) => {
  const error = driverError('23P01', { constraint: 'orders_no_overlap' });
  t.equal(isConstraintViolation(error, SqlState.exclusionViolation, 'orders_no_overlap'), true);
  t.equal(isConstraintViolation(error, SqlState.uniqueViolation, 'orders_no_overlap'), false, 'another SQLSTATE');
  t.equal(isConstraintViolation(error, SqlState.exclusionViolation, 'services_name_key'), false, 'another constraint');
  t.equal(
    isConstraintViolation({ code: '23505' }, SqlState.uniqueViolation, 'services_name_key'),
    false,
    'no constraint',
  );
  t.equal(isConstraintViolation(null, SqlState.uniqueViolation, 'x'), false);
  t.equal(isConstraintViolation('23505', SqlState.uniqueViolation, 'x'), false);
});

t.test('SQLSTATE class 22 is a data exception', async (t) => {
  t.equal(isDataException(driverError('22003')), true, 'numeric value out of range');
  t.equal(isDataException(driverError('22008')), true, 'datetime field overflow');
  t.equal(isDataException(driverError('22P02')), true, 'invalid text representation');
});

t.test('anything else is not a data exception', async (t) => {
  t.equal(isDataException(driverError('23505')), false);
  t.equal(isDataException(driverError('220')), false, 'not a five-character SQLSTATE');
  t.equal(isDataException(driverError('2200399')), false);
  t.equal(isDataException({ code: 22003 }), false, 'a number is no SQLSTATE');
  t.equal(isDataException(null), false);
  t.equal(isDataException(undefined), false);
});

t.test(
  'connection failures, connection-class (08) and server-state codes mean the database is unavailable',
  async (t) => {
    for (const code of [
      'ECONNREFUSED',
      'ECONNRESET',
      'ETIMEDOUT',
      'ENOTFOUND',
      'EAI_AGAIN',
      'EPIPE',
      '08000',
      '08006',
      '08P01',
      '53300',
      '57014',
      '57P01',
      '57P02',
      '57P03',
      '40001',
      '40P01',
    ]) {
      t.equal(isDatabaseUnavailable(driverError(code)), true, code);
    }
  },
);

t.test("the pg pool's messages without a code mean the database is unavailable", async (t) => {
  for (const message of [
    'Connection terminated unexpectedly',
    'connection terminated due to connection timeout',
    'timeout exceeded when trying to connect',
    'Client has encountered a connection error and is not queryable',
    'Query read timeout',
  ]) {
    t.equal(isDatabaseUnavailable(new Error(message)), true, message);
  }
});

t.test('constraint violations, data exceptions and programming errors are not unavailability', async (t) => {
  t.equal(isDatabaseUnavailable(driverError('23505')), false);
  t.equal(isDatabaseUnavailable(driverError('22003')), false);
  t.equal(isDatabaseUnavailable(driverError('42P01', {}, 'relation "orders" does not exist')), false);
  t.equal(isDatabaseUnavailable(new Error('boom')), false);
  t.equal(isDatabaseUnavailable({}), false);
  t.equal(isDatabaseUnavailable(null), false);
  t.equal(isDatabaseUnavailable('ECONNREFUSED'), false, 'a string is no error');
});
