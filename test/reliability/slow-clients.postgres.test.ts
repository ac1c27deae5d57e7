import http from 'node:http';
import net from 'node:net';
import t from 'tap';
import { countRows } from '../helpers/database.js';
import { startService } from '../helpers/service.js';

// Slow or stuck clients cannot tie the server up. The service is started with short deadlines
// (headers within 1 s, the whole request within 2 s, at most 20 connections), Node checks the
// deadlines every second, and raw sockets play the slow clients:
//   - one that trickles its headers a byte at a time is cut off, with a 408, once the headers
//     deadline has passed, while requests on other connections are answered as usual;
//   - one that sends its headers and then trickles the body is cut off after the request deadline,
//     and nothing it started is stored;
//   - an idle keep-alive connection is closed after the keep-alive timeout (5 s);
//   - beyond the connection cap new connections are dropped at once, and once some close the
//     server serves again.

const HEADERS_TIMEOUT_MS = 1_000;
const REQUEST_TIMEOUT_MS = 2_000;
const MAX_CONNECTIONS = 20;
/** How often Node looks for connections past their deadline (set in src/app.ts). */
const CHECKING_INTERVAL_MS = 1_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** Scheduling slack on a loaded machine: a deadline is met within its bound plus this. */
const MARGIN_MS = 1_500;
/** A normal request during the slow clients' attack is answered within this (they take ~20-100 ms). */
const PROMPT_MS = 1_500;

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function parseResponse(text: string): RawResponse | undefined {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers = Object.fromEntries(
    lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
  );
  return { status: Number(statusLine!.split(' ')[1]), headers, body: text.slice(end + 4) };
}

interface SlowClient {
  /** Milliseconds from connecting until the server closed the connection. */
  closed: Promise<number>;
  /** Everything the server sent. */
  received(): string;
  /** Bytes sent so far after the opening bytes. */
  trickled(): number;
}

/** A client that sends `opening`, then `byte` every `everyMs` for ever (until the server hangs up). */
function trickle(port: number, opening: string, byte: string, everyMs: number): SlowClient {
  const socket = net.connect(port, '127.0.0.1');
  let data = '';
  let sent = 0;
  let timer: NodeJS.Timeout | undefined;
  const connected = Date.now();
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (data += chunk));
  socket.on('error', () => {}); // EPIPE / ECONNRESET once the server is gone: expected
  socket.on('connect', () => {
    socket.write(opening);
    timer = setInterval(() => {
      if (!socket.writable) return;
      socket.write(byte);
      sent += 1;
    }, everyMs);
  });
  const closed = new Promise<number>((resolve) =>
    socket.on('close', () => {
      clearInterval(timer);
      resolve(Date.now() - connected);
    }),
  );
  t.teardown(() => {
    clearInterval(timer);
    socket.destroy();
  });
  return { closed, received: () => data, trickled: () => sent };
}

/** One request on a connection of its own (closed afterwards), with how long it took. */
function requestOnce(
  url: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; ms: number } | { error: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const request = http.get(`${url}${path}`, { agent: false, headers }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode!, ms: Date.now() - started }));
    });
    request.setTimeout(10_000, () => request.destroy(new Error('no answer within 10 s')));
    request.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ error: error.code ?? error.message, ms: Date.now() - started }),
    );
  });
}

/** Requests from other connections, one every 100 ms until `until` settles: what a normal client sees meanwhile. */
async function normalTraffic(
  url: string,
  apiKey: string,
  until: Promise<unknown>,
): Promise<{ status?: number; error?: string; ms: number }[]> {
  const results: { status?: number; error?: string; ms: number }[] = [];
  let done = false;
  void until.then(() => (done = true));
  const pending: Promise<void>[] = [];
  for (let i = 0; !done; i++) {
    const path = i % 2 === 0 ? '/healthz' : '/orders?limit=5';
    pending.push(requestOnce(url, path, { authorization: `Bearer ${apiKey}` }).then((r) => void results.push(r)));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await Promise.all(pending);
  return results;
}

/** The answer a timed-out client gets: 408, as a problem, and the connection closed. */
function assertRequestTimeout(t: Tap, text: string): void {
  const response = parseResponse(text);
  t.ok(response, `the server answered before closing (got ${JSON.stringify(text.slice(0, 120))})`);
  if (!response) return;
  t.equal(response.status, 408, '408 Request Timeout');
  t.match(response.headers['content-type'], /^application\/problem\+json/, 'as a problem');
  t.equal(response.headers.connection, 'close', 'with Connection: close');
  t.match(
    JSON.parse(response.body),
    { type: String, title: String, status: 408, detail: String },
    'a problem body with status 408',
  );
}

type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

const service = await startService(t, {
  headersTimeoutMs: HEADERS_TIMEOUT_MS,
  requestTimeoutMs: REQUEST_TIMEOUT_MS,
  maxConnections: MAX_CONNECTIONS,
});
const port = Number(new URL(service.url).port);

// An idle keep-alive connection, opened now and watched in the last test but one (it takes 5 s).
const keepAlive = (() => {
  const socket = net.connect(port, '127.0.0.1');
  let data = '';
  let answeredAt = 0;
  socket.setEncoding('latin1');
  socket.on('error', () => {});
  socket.on('connect', () => socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
  socket.on('data', (chunk: string) => {
    data += chunk;
    if (!answeredAt && parseResponse(data)) answeredAt = Date.now();
  });
  t.teardown(() => socket.destroy());
  return {
    data: () => data,
    idleUntilClosed: new Promise<number>((resolve) =>
      socket.on('close', () => resolve(answeredAt ? Date.now() - answeredAt : -1)),
    ),
  };
})();

t.test(
  'a client trickling its headers is cut off with a 408 after the headers deadline, while others are served',
  async (t) => {
    // Three slowloris clients: a header line, then one byte every 200 ms, never the blank line.
    const slow = [0, 1, 2].map(() => trickle(port, 'GET /orders HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ', 'a', 200));
    const allClosed = Promise.all(slow.map((s) => s.closed));
    const [closedAfter, traffic] = await Promise.all([
      Promise.race([allClosed, new Promise<number[]>((resolve) => setTimeout(() => resolve([]), 10_000))]),
      normalTraffic(service.url, service.apiKey, allClosed),
    ]);
    t.equal(closedAfter.length, 3, 'every slow client was cut off (within 10 s)');
    const bound = HEADERS_TIMEOUT_MS + CHECKING_INTERVAL_MS + MARGIN_MS;
    for (const [i, ms] of closedAfter.entries()) {
      t.ok(
        ms >= HEADERS_TIMEOUT_MS - 50 && ms <= bound,
        `slow client ${i + 1} cut off after ${ms} ms (headers deadline ${HEADERS_TIMEOUT_MS} ms, bound ${bound} ms)`,
      );
      t.ok(slow[i]!.trickled() >= 3, `it was still sending (${slow[i]!.trickled()} bytes trickled)`);
      assertRequestTimeout(t, slow[i]!.received());
    }
    const statuses = traffic.map((r) => r.status ?? r.error);
    const slowest = Math.max(...traffic.map((r) => r.ms));
    t.ok(traffic.length >= 8, `${traffic.length} normal requests were sent meanwhile`);
    t.same([...new Set(statuses)], [200], 'every one of them was answered 200');
    t.ok(slowest < PROMPT_MS, `promptly: the slowest took ${slowest} ms`);
  },
);

t.test(
  'a client trickling its body is cut off with a 408 after the request deadline, and nothing is stored',
  async (t) => {
    const servicesBefore = await countRows(service.db, 'services');
    const body = '{"name":"Slow service"}'.padEnd(100, ' ');
    const opening =
      `POST /services HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${service.apiKey}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`;
    // Headers at once, then a body byte every 200 ms: all 100 bytes would take 18 s more.
    const slow = trickle(port, opening, ' ', 200);
    const [closedAfter, traffic] = await Promise.all([
      Promise.race([slow.closed, new Promise<number>((resolve) => setTimeout(() => resolve(-1), 10_000))]),
      normalTraffic(service.url, service.apiKey, slow.closed),
    ]);
    const bound = REQUEST_TIMEOUT_MS + CHECKING_INTERVAL_MS + MARGIN_MS;
    t.ok(
      closedAfter >= REQUEST_TIMEOUT_MS - 50 && closedAfter <= bound,
      `cut off after ${closedAfter} ms (request deadline ${REQUEST_TIMEOUT_MS} ms, bound ${bound} ms)`,
    );
    t.ok(slow.trickled() >= 5, `it was still sending (${slow.trickled()} body bytes trickled)`);
    assertRequestTimeout(t, slow.received());
    t.equal(await countRows(service.db, 'services'), servicesBefore, 'the half-sent service was not stored');
    t.same(
      [...new Set(traffic.map((r) => r.status ?? r.error))],
      [200],
      `the ${traffic.length} requests on other connections meanwhile were answered 200`,
    );
    t.ok(
      Math.max(...traffic.map((r) => r.ms)) < PROMPT_MS,
      `promptly: the slowest took ${Math.max(...traffic.map((r) => r.ms))} ms`,
    );
  },
);

t.test('an idle keep-alive connection is closed after the keep-alive timeout', async (t) => {
  const idleMs = await Promise.race([
    keepAlive.idleUntilClosed,
    new Promise<number>((resolve) => setTimeout(() => resolve(-2), 15_000)),
  ]);
  t.equal(parseResponse(keepAlive.data())?.status, 200, 'its one request was answered');
  // Node allows a client a second more than keepAliveTimeout before it closes the connection.
  const bound = KEEP_ALIVE_TIMEOUT_MS + 1_000 + MARGIN_MS;
  t.ok(
    idleMs >= KEEP_ALIVE_TIMEOUT_MS - 50 && idleMs <= bound,
    `closed after ${idleMs} ms idle (keep-alive timeout ${KEEP_ALIVE_TIMEOUT_MS} ms, bound ${bound} ms)`,
  );
});

t.test(
  'beyond the connection cap new connections are dropped; below it, and once some close, the server serves',
  async (t) => {
    // A server of its own, so that no connection from the tests above counts against the cap.
    const capped = await startService(t, {
      headersTimeoutMs: HEADERS_TIMEOUT_MS,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      maxConnections: MAX_CONNECTIONS,
    });
    const cappedPort = Number(new URL(capped.url).port);

    /** A connection that made one request and now sits idle (kept alive for 5 s). */
    async function idleConnection(): Promise<net.Socket> {
      const socket = net.connect(cappedPort, '127.0.0.1');
      socket.on('error', () => {});
      t.teardown(() => socket.destroy());
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      await new Promise((resolve) => socket.once('data', resolve));
      return socket;
    }

    const held: net.Socket[] = [];
    for (let i = 0; i < MAX_CONNECTIONS - 1; i++) held.push(await idleConnection());
    const underCap = await requestOnce(capped.url, '/healthz');
    t.same(
      underCap,
      { status: 200, ms: underCap.ms },
      `with ${held.length} idle connections (one under the cap) a new client is served`,
    );
    // Its connection is closed by the time the response has ended; let the server count it out.
    await new Promise((resolve) => setTimeout(resolve, 200));
    held.push(await idleConnection());

    // At the cap: a new connection is accepted by the kernel and closed at once, unanswered.
    const extra = net.connect(cappedPort, '127.0.0.1');
    let extraData = '';
    extra.on('data', (chunk) => (extraData += chunk));
    extra.on('error', () => {});
    extra.on('connect', () => extra.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
    const started = Date.now();
    const extraClosed = await Promise.race([
      new Promise<number>((resolve) => extra.on('close', () => resolve(Date.now() - started))),
      new Promise<number>((resolve) => setTimeout(() => resolve(-1), 3_000)),
    ]);
    extra.destroy();
    t.ok(
      extraClosed >= 0 && extraClosed < 1_000,
      `connection ${MAX_CONNECTIONS + 1} was dropped (closed after ${extraClosed} ms)`,
    );
    t.equal(extraData, '', 'without an answer');
    const atCap = await requestOnce(capped.url, '/healthz');
    t.ok('error' in atCap, `a client at the cap gets no answer (${'error' in atCap ? atCap.error : atCap.status})`);

    // Some clients leave: there is room again.
    for (const socket of held.splice(0, 5)) socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const afterwards = await requestOnce(capped.url, `/orders?limit=1`, { authorization: `Bearer ${capped.apiKey}` });
    t.same(
      afterwards,
      { status: 200, ms: afterwards.ms },
      'once 5 idle connections close, a new client is served again',
    );
    for (const socket of held) socket.destroy();
  },
);
