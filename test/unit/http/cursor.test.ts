import { createHmac } from 'node:crypto';
import t from 'tap';
import { problemRejectedBy } from '../../helpers/problems.js';
import { CursorCodec } from '../../../src/http/cursor.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const key = Buffer.alloc(32, 7);
const codec = () => new CursorCodec(async () => key);
const anyArray = (position: unknown[]) => position;

/** A cursor as the server would sign it, for payloads `encode` cannot produce. */
function signed(payloadText: string, signingKey = key): string {
  const payload = Buffer.from(payloadText, 'utf8').toString('base64url');
  return payload + createHmac('sha256', signingKey).update(payload).digest('base64url').slice(0, 16);
}

/** decode refuses the cursor with exactly the 400 every forged or damaged cursor gets. */
async function refused(t: Test, cursor: string, parse: (position: unknown[]) => unknown = anyArray) {
  const error = await problemRejectedBy(codec().decode(cursor, parse));
  t.equal(error.status, 400);
  t.strictSame(error.problem.errors, [{ path: '/query/cursor', message: 'is not a cursor returned by this API' }]);
  t.equal(error.problem.type, '/problems/validation');
}

t.test('a cursor decodes to the position it was encoded from', async (t) => {
  const cursors = codec();
  const cursor = await cursors.encode(['2022-11-01T11:11:11.111Z', '223']);
  t.strictSame(await cursors.decode(cursor, anyArray), ['2022-11-01T11:11:11.111Z', '223']);
  t.strictSame(await codec().decode(await cursors.encode([42]), anyArray), [42], 'by another codec with the same key');
});

t.test('a cursor is base64url text: safe in a query string without escaping', async (t) => {
  const cursor = await codec().encode(['ü?&=/+ ', 1]);
  t.match(cursor, /^[A-Za-z0-9_-]+$/);
});

t.test('decode returns what the parse callback makes of the position', async (t) => {
  const cursors = codec();
  const cursor = await cursors.encode(['2022-11-01T11:11:11.111Z', '223']);
  t.strictSame(await cursors.decode(cursor, ([datetime, id]) => ({ datetime, id })), {
    datetime: '2022-11-01T11:11:11.111Z',
    id: '223',
  });
});

t.test('a cursor with any one character changed is refused', async (t) => {
  const cursor = await codec().encode(['2022-11-01T11:11:11.111Z', '223']);
  for (const index of [0, Math.floor(cursor.length / 2), cursor.length - 17, cursor.length - 16, cursor.length - 1]) {
    const changed = cursor.slice(0, index) + (cursor[index] === 'A' ? 'B' : 'A') + cursor.slice(index + 1);
    await t.test(`character ${index}`, (t) => refused(t, changed));
  }
});

t.test('a truncated or extended cursor is refused', async (t) => {
  const cursor = await codec().encode(['2022-11-01T11:11:11.111Z', '223']);
  await t.test('last character dropped', (t) => refused(t, cursor.slice(0, -1)));
  await t.test('first character dropped', (t) => refused(t, cursor.slice(1)));
  await t.test('only the MAC', (t) => refused(t, cursor.slice(-16)));
  await t.test('shorter than a MAC', (t) => refused(t, cursor.slice(0, 10)));
  await t.test('empty', (t) => refused(t, ''));
  await t.test('a character appended', (t) => refused(t, `${cursor}A`));
});

t.test('a non-ASCII character where the MAC stands is refused, not a crash', async (t) => {
  const cursor = await codec().encode([1]);
  await refused(t, `${cursor.slice(0, -1)}é`);
});

t.test('a cursor signed with another key is refused', async (t) => {
  const other = await new CursorCodec(async () => Buffer.alloc(32, 8)).encode(['2022-11-01T11:11:11.111Z', '223']);
  await refused(t, other);
  await refused(t, signed('["2022-11-01T11:11:11.111Z","223"]', Buffer.alloc(32, 9)));
});

t.test('a signed payload that is not a JSON array is refused', async (t) => {
  t.strictSame(await codec().decode(signed('[1]'), anyArray), [1], 'the signing helper matches the codec');
  await t.test('an object', (t) => refused(t, signed('{"0":"2022-11-01T11:11:11.111Z","1":"223"}')));
  await t.test('a string', (t) => refused(t, signed('"223"')));
  await t.test('null', (t) => refused(t, signed('null')));
  await t.test('not JSON', (t) => refused(t, signed('[1,')));
});

t.test('a position the parse callback rejects (undefined) is refused', async (t) => {
  const cursor = await codec().encode(['not', 'a', 'position']);
  await refused(t, cursor, () => undefined);
});

t.test('a parse callback that throws is refused like a bad position', async (t) => {
  const cursor = await codec().encode([1]);
  await refused(t, cursor, () => {
    throw new TypeError('bad shape');
  });
});

t.test('the key is loaded on first use, once', async (t) => {
  let loads = 0;
  const cursors = new CursorCodec(async () => {
    loads += 1;
    return key;
  });
  t.equal(loads, 0, 'not at construction (the database may be down at start-up)');
  const cursor = await cursors.encode([1]);
  await cursors.decode(cursor, anyArray);
  await cursors.encode([2]);
  t.equal(loads, 1);
});

t.test('a failed key load is retried on the next use', async (t) => {
  let loads = 0;
  const cursors = new CursorCodec(async () => {
    loads += 1;
    if (loads === 1) throw new Error('database unavailable');
    return key;
  });
  await t.rejects(cursors.encode([1]), new Error('database unavailable'), 'the load error surfaces');
  const cursor = await cursors.encode([1]);
  t.equal(loads, 2);
  t.strictSame(await codec().decode(cursor, anyArray), [1], 'signed with the key loaded on retry');
  await cursors.encode([2]);
  t.equal(loads, 2, 'a successful load is kept');
});
