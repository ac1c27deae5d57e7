/**
 * Soak: a bounded mixed load against a real server process for SOAK_SECONDS (default 300), from
 * this separate process. Reports requests, status counts, p50/p99 latency and the server's RSS
 * over time. Not a test (nothing is asserted); `make soak` runs it. Exits 1 on any 5xx, so a
 * scripted soak cannot hide one.
 *
 *   SOAK_SECONDS=300 SOAK_CONCURRENCY=16 make soak
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { allScopes } from '../src/keys/model.js';
import { createApiKey } from '../src/keys/use-cases.js';
import { createOrdersClient } from '../src/client.js';
import { openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { seedSampleData } from '../src/db/seed.js';
import { serviceCommand } from './servers.js';

const seconds = Number(process.env.SOAK_SECONDS ?? 300);
const concurrency = Number(process.env.SOAK_CONCURRENCY ?? 16);
const adminUrl = process.env.PG_TEST_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const root = fileURLToPath(new URL('..', import.meta.url));

// A database of its own, dropped afterwards.
const dbName = `orders_soak_${process.pid}`;
const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`CREATE DATABASE ${dbName}`);
const url = new URL(adminUrl);
url.pathname = `/${dbName}`;
const databaseUrl = url.toString();
const { db } = await openDatabase({ kind: 'postgres', url: databaseUrl });
await migrateToLatest(db);
await seedSampleData(db);
const { key } = await createApiKey(db, 'soak', allScopes);
await db.destroy();

const port = await new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address() as { port: number };
    s.close(() => resolve(port));
  });
});
// Started as `npm start` starts it (package.json's start script: its heap flags are what is measured).
const { nodeFlags, script } = serviceCommand();
const server = spawn(process.execPath, [...nodeFlags, script], {
  cwd: root,
  env: { ...process.env, DATABASE_URL: databaseUrl, PORT: String(port), LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '0' },
  stdio: ['ignore', 'ignore', 'inherit'],
});
process.on('exit', () => server.kill('SIGKILL'));
const baseUrl = `http://127.0.0.1:${port}`;
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${baseUrl}/healthz`)).ok) break;
  } catch {
    if (i > 300 || server.exitCode !== null) {
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      throw new Error('server did not start');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))![1]) / 1024;
const client = createOrdersClient({ baseUrl, apiKey: key });
const statuses = new Map<string, number>();
const latencies: number[] = [];
const ids: string[] = [];
let slot = 0;
const base = Date.UTC(2100, 0, 1);
const nextTime = () => new Date(base + slot++ * 4 * 3_600_000).toISOString();
const pick = <T>(a: T[]) => a[Math.floor(Math.random() * a.length)];

async function one(): Promise<void> {
  const r = Math.random();
  const started = performance.now();
  let status: number;
  let operation: string;
  if (r < 0.45 && ids.length > 0) {
    operation = 'getOrder';
    status = (await client.GET('/orders/{orderId}', { params: { path: { orderId: pick(ids)! } } })).response.status;
  } else if (r < 0.6) {
    operation = 'listOrders';
    status = (await client.GET('/orders', { params: { query: { limit: 50 } } })).response.status;
  } else if (r < 0.78 || ids.length < 10) {
    operation = 'createOrder';
    const { data, response } = await client.POST('/orders', {
      body: { datetime: nextTime(), totalfee: 99.5, services: [{ id: 123 }, { id: 456 }] },
    });
    status = response.status;
    if (data) ids.push(data.id);
  } else if (r < 0.88) {
    operation = 'createOrder (conflict)';
    const existing = (await client.GET('/orders/{orderId}', { params: { path: { orderId: pick(ids)! } } })).data;
    const at = existing ? new Date(Date.parse(existing.datetime) + 3_600_000).toISOString() : nextTime();
    status = (await client.POST('/orders', { body: { datetime: at, totalfee: 1, services: [{ id: 789 }] } })).response
      .status;
  } else if (r < 0.96) {
    operation = 'replaceOrder';
    const id = pick(ids)!;
    status = (
      await client.PUT('/orders/{orderId}', {
        params: { path: { orderId: id } },
        body: { datetime: nextTime(), totalfee: 10, services: [{ id: 789 }] },
      })
    ).response.status;
  } else {
    operation = 'deleteOrder';
    const id = ids.splice(Math.floor(Math.random() * ids.length), 1)[0]!;
    status = (await client.DELETE('/orders/{orderId}', { params: { path: { orderId: id } } })).response.status;
  }
  latencies.push(performance.now() - started);
  const label = `${operation} ${status}`;
  statuses.set(label, (statuses.get(label) ?? 0) + 1);
}

const rss: Array<[number, number]> = [[0, rssMiB()]];
const started = Date.now();
const sampler = setInterval(() => rss.push([Math.round((Date.now() - started) / 1000), rssMiB()]), 10_000);
console.log(
  `soak: ${seconds}s, ${concurrency} concurrent clients, server pid ${server.pid}, RSS at start ${rss[0]![1].toFixed(1)} MiB`,
);
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (Date.now() - started < seconds * 1000) await one();
  }),
);
clearInterval(sampler);
rss.push([Math.round((Date.now() - started) / 1000), rssMiB()]);

latencies.sort((a, b) => a - b);
const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(1);
const total = latencies.length;
const errors = [...statuses].filter(([label]) => / 5\d\d$/.test(label)).reduce((n, [, c]) => n + c, 0);
console.log(
  `requests: ${total} (${(total / seconds).toFixed(0)}/s), p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, 5xx: ${errors}`,
);
for (const [label, count] of [...statuses].sort()) console.log(`  ${label.padEnd(30)} ${count}`);
console.log(`server RSS (MiB) by second: ${rss.map(([s, m]) => `${s}s=${m.toFixed(0)}`).join(' ')}`);
const third = Math.max(1, Math.floor(rss.length / 3));
const early = Math.max(...rss.slice(1, third + 1).map(([, m]) => m));
const late = Math.max(...rss.slice(-third).map(([, m]) => m));
console.log(`RSS peak in the first third ${early.toFixed(1)} MiB, in the last third ${late.toFixed(1)} MiB`);

server.kill('SIGTERM');
await new Promise((resolve) => server.once('exit', resolve));
await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
await admin.end();
process.exit(errors > 0 ? 1 : 0);
