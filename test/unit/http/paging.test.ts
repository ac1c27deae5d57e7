import t from 'tap';
import { CursorCodec } from '../../../src/http/cursor.js';
import { pageOf } from '../../../src/http/paging.js';

const cursors = new CursorCodec(async () => Buffer.alloc(32, 1));
const rows = [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }];
const sortKey = (row: { id: number }) => [row.id];
const present = (row: { id: number }) => `service ${row.id}`;

t.test(
  'limit + 1 rows: a page of limit rows and a cursor from the last row of the page (not the extra row)',
  async (t) => {
    const page = await pageOf(rows, 3, cursors, sortKey, present);
    t.strictSame(page.data, ['service 1', 'service 2', 'service 3']);
    t.type(page.nextCursor, 'string');
    t.strictSame(await cursors.decode(page.nextCursor!, (position) => position), [3]);
  },
);

t.test('exactly limit rows: the last page, nextCursor null', async (t) => {
  t.strictSame(await pageOf(rows.slice(0, 3), 3, cursors, sortKey, present), {
    data: ['service 1', 'service 2', 'service 3'],
    nextCursor: null,
  });
});

t.test('fewer rows than limit: the last page, nextCursor null', async (t) => {
  t.strictSame(await pageOf(rows.slice(0, 1), 3, cursors, sortKey, present), { data: ['service 1'], nextCursor: null });
});

t.test('no rows: { data: [], nextCursor: null }', async (t) => {
  t.strictSame(await pageOf([], 3, cursors, sortKey, present), { data: [], nextCursor: null });
});

t.test('the cursor encodes the whole sort key of the last row, in order', async (t) => {
  const orders = [
    { datetime: '2022-11-01T11:11:11.111Z', id: '7' },
    { datetime: '2022-11-01T15:00:00.000Z', id: '3' },
  ];
  const page = await pageOf(
    orders,
    1,
    cursors,
    (o) => [o.datetime, o.id],
    (o) => o.id,
  );
  t.strictSame(page.data, ['7']);
  t.strictSame(await cursors.decode(page.nextCursor!, (position) => position), ['2022-11-01T11:11:11.111Z', '7']);
});
