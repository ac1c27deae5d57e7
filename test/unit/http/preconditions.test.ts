import t from 'tap';
import { etagOf, noneMatch, versionsAcceptedBy } from '../../../src/http/preconditions.js';

t.test("an order's ETag is its id and version, quoted", async (t) => {
  t.equal(etagOf({ id: '223', version: 1 }), '"223-1"');
  t.equal(etagOf({ id: '999999999999999999', version: 42 }), '"999999999999999999-42"');
});

t.test('If-Match: no header states no condition', async (t) => {
  t.equal(versionsAcceptedBy(undefined, '223'), undefined);
});

t.test('If-Match: * states no condition (replace and delete need an existing order anyway)', async (t) => {
  t.equal(versionsAcceptedBy('*', '223'), undefined);
  t.equal(versionsAcceptedBy('  *  ', '223'), undefined);
});

t.test('If-Match: a strong tag of this order accepts that version', async (t) => {
  t.strictSame(versionsAcceptedBy('"223-1"', '223'), [1]);
  t.strictSame(versionsAcceptedBy(' "223-17" ', '223'), [17]);
});

t.test('If-Match: a list accepts each version it names, in order', async (t) => {
  t.strictSame(versionsAcceptedBy('"223-1", "223-3","223-2"', '223'), [1, 3, 2]);
});

t.test('If-Match: strong comparison is exact: "223-01" is not version 1', async (t) => {
  t.strictSame(versionsAcceptedBy('"223-01"', '223'), []);
  t.strictSame(versionsAcceptedBy('"223-0"', '223'), [], 'versions start at 1');
  t.strictSame(versionsAcceptedBy('"223-1 "', '223'), [], 'a space inside the quotes');
  t.strictSame(versionsAcceptedBy('"223-+1"', '223'), []);
  t.strictSame(versionsAcceptedBy('"223-1e0"', '223'), []);
  t.strictSame(versionsAcceptedBy('"223-1234567890"', '223'), [], 'more than 9 digits is no version');
});

t.test('If-Match: weak tags never match (strong comparison)', async (t) => {
  t.strictSame(versionsAcceptedBy('W/"223-1"', '223'), []);
  t.strictSame(versionsAcceptedBy('W/"223-1", "223-2"', '223'), [2], 'only the strong tag of a list counts');
});

t.test("If-Match: another order's tag with the same version is not accepted", async (t) => {
  t.strictSame(versionsAcceptedBy('"224-1"', '223'), []);
  t.strictSame(versionsAcceptedBy('"1223-1"', '223'), [], 'an id that ends like this one');
  t.strictSame(versionsAcceptedBy('"2234-1"', '223'), [], 'an id that starts like this one');
  t.strictSame(versionsAcceptedBy('"22-3-1"', '22'), [], 'a version that is not digits');
});

t.test('If-Match: entries that are not entity tags match nothing', async (t) => {
  t.strictSame(versionsAcceptedBy('223-1', '223'), [], 'unquoted');
  t.strictSame(versionsAcceptedBy('', '223'), []);
  t.strictSame(versionsAcceptedBy('"223-1', '223'), [], 'an unclosed quote');
});

t.test('If-None-Match: no header always lets the request through', async (t) => {
  t.equal(noneMatch(undefined, '"223-1"'), true);
});

t.test('If-None-Match: * matches any current representation', async (t) => {
  t.equal(noneMatch('*', '"223-1"'), false);
  t.equal(noneMatch(' * ', '"223-1"'), false);
});

t.test('If-None-Match: weak comparison: W/"x" and "x" both match "x"', async (t) => {
  t.equal(noneMatch('"223-1"', '"223-1"'), false);
  t.equal(noneMatch('W/"223-1"', '"223-1"'), false);
});

t.test('If-None-Match: a list matches when any of its tags does', async (t) => {
  t.equal(noneMatch('"223-0", W/"223-2", "223-1"', '"223-1"'), false);
  t.equal(noneMatch('"223-0", W/"223-2"', '"223-1"'), true);
});

t.test("If-None-Match: an older version or another order's tag does not match", async (t) => {
  t.equal(noneMatch('"223-1"', '"223-2"'), true);
  t.equal(noneMatch('"224-1"', '"223-1"'), true);
  t.equal(noneMatch('"223-01"', '"223-1"'), true);
});
