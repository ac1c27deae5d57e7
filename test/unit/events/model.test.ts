import t from 'tap';
import { isBefore, isEventPosition, laterOf, startOfFeed } from '../../../src/events/model.js';

t.test('positions compare by transaction first, then id, as numbers (not as text)', async (t) => {
  t.ok(isBefore({ txId: '9', id: '100' }, { txId: '10', id: '1' }), 'tx 9 < tx 10 whatever the ids');
  t.ok(isBefore({ txId: '10', id: '9' }, { txId: '10', id: '10' }), 'same tx: id 9 < id 10');
  t.notOk(isBefore({ txId: '10', id: '10' }, { txId: '10', id: '10' }), 'not before itself');
  t.notOk(isBefore({ txId: '11', id: '1' }, { txId: '10', id: '99' }));
  t.ok(isBefore(startOfFeed, { txId: '0', id: '1' }), 'the start is before every event');
  t.ok(
    isBefore({ txId: '18446744073709551614', id: '1' }, { txId: '18446744073709551615', id: '1' }),
    'beyond 2^53: exact',
  );
});

t.test('laterOf is the later of two positions', async (t) => {
  const a = { txId: '5', id: '7' };
  const b = { txId: '6', id: '0' };
  t.equal(laterOf(a, b), b);
  t.equal(laterOf(b, a), b);
  t.equal(laterOf(a, a), a);
});

t.test('a cursor position is digits within the ranges of xid8 and int8', async (t) => {
  t.ok(isEventPosition('0', '0'));
  t.ok(isEventPosition('18446744073709551615', '9223372036854775807'), 'the largest of each');
  for (const [txId, id] of [
    ['18446744073709551616', '1'],
    ['1', '9223372036854775808'],
    ['01', '1'],
    ['-1', '1'],
    ['1.5', '1'],
    ['', '1'],
    [1, '1'],
    ['1', 1],
    [null, '1'],
  ]) {
    t.notOk(isEventPosition(txId, id), JSON.stringify([txId, id]));
  }
});
