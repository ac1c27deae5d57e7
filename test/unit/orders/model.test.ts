import t from 'tap';
import { isOrderId } from '../../../src/orders/model.js';

t.test('an order id is 1 to 18 decimal digits', async (t) => {
  t.equal(isOrderId('1'), true);
  t.equal(isOrderId('223'), true);
  t.equal(isOrderId('0123'), true, 'leading zeros are digits');
  t.equal(isOrderId('999999999999999999'), true, '18 digits');
});

t.test('anything else is not an order id', async (t) => {
  t.equal(isOrderId(''), false, 'empty');
  t.equal(isOrderId('1234567890123456789'), false, '19 digits exceed int8 for some values');
  t.equal(isOrderId('-1'), false, 'a sign');
  t.equal(isOrderId('+1'), false, 'a plus sign');
  t.equal(isOrderId('1.5'), false);
  t.equal(isOrderId('1e3'), false);
  t.equal(isOrderId('0x10'), false);
  t.equal(isOrderId(' 12'), false, 'surrounding space');
  t.equal(isOrderId('12\n'), false, 'a trailing newline');
  t.equal(isOrderId('١٢٣'), false, 'digits of another script');
});
