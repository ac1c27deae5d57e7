import t from 'tap';
import { FixedWindows } from '../../../../src/plugins/app/rate-limit.js';

t.test('a caller has `limit` requests in the minute its first request opens', async (t) => {
  const windows = new FixedWindows(3);
  t.strictSame(windows.count('a', 1_000), { count: 1, resetsInMs: 60_000 });
  t.strictSame(windows.count('a', 21_000), { count: 2, resetsInMs: 40_000 });
  t.strictSame(windows.count('a', 60_999), { count: 3, resetsInMs: 1 });
  t.strictSame(windows.count('a', 60_999), { count: 4, resetsInMs: 1 }, 'counted past the limit');
  t.strictSame(windows.count('a', 61_000), { count: 1, resetsInMs: 60_000 }, 'a new window a minute later');
});

t.test('callers are counted apart', async (t) => {
  const windows = new FixedWindows(3);
  windows.count('a', 0);
  windows.count('a', 0);
  t.equal(windows.count('b', 0).count, 1);
  t.equal(windows.count('a', 0).count, 3);
});

t.test('past the most callers it remembers, the one whose window opened longest ago is forgotten', async (t) => {
  const windows = new FixedWindows(10, 2);
  windows.count('a', 0);
  windows.count('b', 1);
  windows.count('a', 60_000); // a's new window: now the newest
  windows.count('c', 60_001); // forgets b
  t.equal(windows.count('a', 60_002).count, 2, 'a kept');
  t.equal(windows.count('c', 60_003).count, 2, 'c kept');
  t.equal(windows.count('b', 60_004).count, 1, 'b forgotten: a fresh window');
});
