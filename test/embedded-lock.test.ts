import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { openDatabase } from '../src/db/database.js';

t.test('a second process on the same embedded data directory is refused instead of losing writes', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'orders-lock-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));

  const first = await openDatabase({ kind: 'pglite', dataDir });
  // A lock held by a live process (here: this one, as a stand-in for a running server).
  await t.rejects(openDatabase({ kind: 'pglite', dataDir }), { message: new RegExp(`in use by process ${process.pid}.*DATABASE_URL`) });
  await first.db.destroy();

  const again = await openDatabase({ kind: 'pglite', dataDir });
  t.pass('the directory is free again once the first owner closed it');
  await again.db.destroy();
});

t.test('a lock left by a process that no longer exists is taken over', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'orders-lock-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  writeFileSync(path.join(dataDir, 'orders-service.lock'), '2147483646');
  const opened = await openDatabase({ kind: 'pglite', dataDir });
  t.pass('opened despite the stale lock');
  await opened.db.destroy();
});
