import t from 'tap';
import { decimalPlacesOf, isMultipleOf } from '../../../src/http/decimal.js';

t.test('a number with at most 2 decimals is a multiple of 0.01, whatever binary division says', async (t) => {
  t.not(0.29 / 0.01, 29, 'binary division misses 0.29 (the reason for this module)');
  for (const fee of [0, 1, 0.29, 0.07, 0.57, 150.5, 100, 999999999999.99, 938742181714.44, 1e15, 1e21]) {
    t.ok(isMultipleOf(fee, 0.01), `${fee}`);
  }
});

t.test('a number with more decimals is not, however small or large', async (t) => {
  for (const fee of [0.001, 0.0001, 1.005, 57 * 0.01, 123.456, 1e-7, 5e-324, 413599572633.20337]) {
    t.notOk(isMultipleOf(fee, 0.01), `${fee}`);
  }
});

t.test('negative numbers and other steps are decided the same way', async (t) => {
  t.ok(isMultipleOf(-0.29, 0.01));
  t.ok(isMultipleOf(-0, 0.01));
  t.ok(isMultipleOf(0.15, 0.05));
  t.notOk(isMultipleOf(0.16, 0.05));
  t.ok(isMultipleOf(1500, 500));
  t.notOk(isMultipleOf(1501, 500));
  t.ok(isMultipleOf(3e-9, 1e-9));
});

t.test('no finite number is a multiple of 0, and no infinity a multiple of anything', async (t) => {
  t.notOk(isMultipleOf(0, 0));
  t.notOk(isMultipleOf(Infinity, 0.01));
  t.notOk(isMultipleOf(NaN, 0.01));
});

t.test('a power of ten names its decimal places; any other step none', async (t) => {
  t.equal(decimalPlacesOf(0.01), 2);
  t.equal(decimalPlacesOf(0.1), 1);
  t.equal(decimalPlacesOf(1e-9), 9);
  t.equal(decimalPlacesOf(1), 0);
  t.equal(decimalPlacesOf(0.05), undefined);
  t.equal(decimalPlacesOf(10), undefined);
});
