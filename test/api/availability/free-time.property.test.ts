import fc from 'fast-check';
import t from 'tap';
import type { components } from '../../../src/client.js';
import { orderBody, seedCatalogue } from '../../helpers/fixtures.js';
import { startService } from '../../helpers/service.js';

// A property test of free time against the 3-hour rule itself (the exclusion constraint): random
// clusters of orders whose gaps are often exactly 3 h, 6 h, 6 h ± 1 ms; availability over a random
// range around them (maybe excluding one of them, which is then deleted: "as if it did not exist");
// then creates decide: each window's edges and middle are accepted, the instant beside each edge is
// refused (unless outside [from, to)), and so is time between windows. Every refused create's
// nearestFreeBefore / nearestFreeAfter are accepted, the instants just inside them are refused, and
// they match GET /availability/nearest. Probes are deleted at once; each run deletes its orders.
//
// AVAILABILITY_SEED=n replays a run (the seed is printed); AVAILABILITY_RUNS sets how many.

const seed = Number(process.env.AVAILABILITY_SEED ?? Math.floor(Math.random() * 2 ** 31));
const runs = Number(process.env.AVAILABILITY_RUNS ?? 12);
const replay = `AVAILABILITY_SEED=${seed} npx tap test/api/availability/free-time.property.test.ts`;
t.comment(`free-time property seed ${seed}, ${runs} runs (replay: ${replay})`);

const { client, db } = await startService(t);
await seedCatalogue(db);

type Problem = components['schemas']['Problem'];

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

/** Gaps between neighbouring orders: the edges of the rule, and anything from 3 to 13 hours. */
const gap = fc.oneof(
  fc.constantFrom(3 * HOUR, 6 * HOUR, 6 * HOUR + 1, 6 * HOUR - 1, 3 * HOUR + 1),
  fc.integer({ min: 3 * HOUR, max: 13 * HOUR }),
);
const scenario = fc.record({
  gaps: fc.array(gap, { minLength: 0, maxLength: 7 }),
  /** from and to relative to the first and last order (so either may fall inside a blocked span). */
  fromOffset: fc.oneof(fc.constantFrom(0, -3 * HOUR, 3 * HOUR, 1), fc.integer({ min: -9 * HOUR, max: 9 * HOUR })),
  toOffset: fc.oneof(fc.constantFrom(0, 3 * HOUR, -3 * HOUR, 1), fc.integer({ min: -9 * HOUR, max: 9 * HOUR })),
  exclude: fc.option(fc.nat(), { nil: undefined }),
});

/** Each run gets its own 40 days of 2300 onwards, so runs (and shrinking reruns) never meet. */
let region = 0;

interface Created {
  id: string;
  at: number;
}

async function createAt(ms: number): Promise<{ created?: Created; problem?: Problem; status: number }> {
  const { data, error, response } = await client.POST('/orders', { body: orderBody(iso(ms)) });
  if (response.status === 201) return { created: { id: data!.id, at: ms }, status: 201 };
  return { problem: error as Problem, status: response.status };
}

async function remove(id: string): Promise<void> {
  const { response } = await client.DELETE('/orders/{orderId}', { params: { path: { orderId: id } } });
  if (response.status !== 204) throw new Error(`deleting order ${id}: ${response.status}`);
}

/** Whether creating at `ms` is accepted (the probe is deleted again); a refusal's nearest advice is checked. */
async function accepted(ms: number, checkAdvice = true): Promise<boolean> {
  const outcome = await createAt(ms);
  if (outcome.created) {
    await remove(outcome.created.id);
    return true;
  }
  if (outcome.status !== 409)
    throw new Error(`create at ${iso(ms)}: ${outcome.status} ${JSON.stringify(outcome.problem)}`);
  if (checkAdvice) await checkAdvice409(ms, outcome.problem!);
  return false;
}

/** A refused create's nearestFreeBefore / After: free, nothing free strictly between them and the request. */
async function checkAdvice409(ms: number, problem: Problem): Promise<void> {
  const before = problem.nearestFreeBefore;
  const after = problem.nearestFreeAfter;
  const { data } = await client.GET('/availability/nearest', { params: { query: { at: iso(ms) } } });
  expect(data?.before === before && data?.after === after, `the 409 at ${iso(ms)} advises as /availability/nearest`, {
    problem,
    nearest: data,
  });
  if (before === null || before === undefined || after === null || after === undefined) {
    throw new Error(`no nearest free time around ${iso(ms)} in a test far from years 1 and 9999`);
  }
  const b = Date.parse(before);
  const a = Date.parse(after);
  expect(b < ms && ms < a, `the advice brackets the refused ${iso(ms)}`, { before, after });
  expect(await accepted(b, false), `nearestFreeBefore ${before} is accepted`);
  expect(await accepted(a, false), `nearestFreeAfter ${after} is accepted`);
  for (const between of [b + 1, Math.floor((b + ms) / 2), ms - 1, ms + 1, Math.floor((ms + a) / 2), a - 1]) {
    if (between > b && between < a && between !== ms) {
      expect(!(await accepted(between, false)), `${iso(between)}, between the advice and ${iso(ms)}, is refused`);
    }
  }
}

function expect(condition: boolean, message: string, details?: unknown): void {
  if (!condition) throw new Error(`${message}${details === undefined ? '' : `: ${JSON.stringify(details)}`}`);
}

/** The free windows of [from, to) as the rule defines them, from the orders' instants (the oracle). */
function expectedWindows(orders: number[], from: number, to: number): Array<[number, number]> {
  const sorted = [...orders].sort((a, b) => a - b);
  const gaps: Array<[number, number]> = [];
  let start = -Infinity;
  for (const o of sorted) {
    gaps.push([start, o - 3 * HOUR]);
    start = o + 3 * HOUR;
  }
  gaps.push([start, Infinity]);
  return gaps.map(([s, e]): [number, number] => [Math.max(s, from), Math.min(e, to - 1)]).filter(([s, e]) => s <= e);
}

t.test('free windows and the 409 advice agree with the exclusion constraint', async (t) => {
  let checkedRuns = 0;
  await fc.assert(
    fc.asyncProperty(scenario, async ({ gaps, fromOffset, toOffset, exclude }) => {
      const base = Date.UTC(2300, 0, 1) + region++ * 40 * 24 * HOUR;
      const instants = [base];
      for (const g of gaps) instants.push(instants.at(-1)! + g);
      const created: Created[] = [];
      try {
        for (const ms of instants) {
          const outcome = await createAt(ms);
          expect(outcome.created !== undefined, `the cluster's order at ${iso(ms)} is accepted`, outcome.problem);
          created.push(outcome.created!);
        }
        let from = base + fromOffset;
        let to = instants.at(-1)! + toOffset;
        if (from >= to) [from, to] = [to - 1, from + 1];
        const excluded = exclude === undefined ? undefined : created[exclude % created.length]!;
        const query = { from: iso(from), to: iso(to), ...(excluded ? { excludeOrderId: excluded.id } : {}) };
        const { data, response } = await client.GET('/availability', { params: { query } });
        expect(response.status === 200, `GET /availability answers 200`, { status: response.status, query });
        expect(data!.from === iso(from) && data!.to === iso(to), 'the answer echoes the range');
        const windows = data!.windows.map((w): [number, number] => [
          Date.parse(w.earliestStart),
          Date.parse(w.latestStart),
        ]);

        // "As if it did not exist": the excluded order goes before the constraint is asked.
        if (excluded) {
          await remove(excluded.id);
          created.splice(created.indexOf(excluded), 1);
        }
        const remaining = created.map((c) => c.at);
        expect(
          JSON.stringify(windows) === JSON.stringify(expectedWindows(remaining, from, to)),
          'the windows are the gaps the rule leaves',
          { query, windows: data!.windows, orders: remaining.map(iso) },
        );

        for (const [i, [earliest, latest]] of windows.entries()) {
          expect(earliest <= latest && earliest >= from && latest < to, 'a window lies in [from, to)', data);
          expect(await accepted(earliest), `a create at earliestStart ${iso(earliest)} is accepted`);
          expect(await accepted(latest), `a create at latestStart ${iso(latest)} is accepted`);
          const middle = Math.floor((earliest + latest) / 2);
          expect(await accepted(middle), `a create inside the window, at ${iso(middle)}, is accepted`);
          if (earliest - 1 >= from) {
            expect(!(await accepted(earliest - 1)), `1 ms before earliestStart, ${iso(earliest - 1)}, is refused`);
          }
          if (latest + 1 < to) {
            expect(!(await accepted(latest + 1)), `1 ms after latestStart, ${iso(latest + 1)}, is refused`);
          }
          const next = windows[i + 1];
          if (next) {
            expect(next[0] > latest + 1, 'windows neither overlap nor touch', data);
            const between = Math.floor((latest + next[0]) / 2);
            expect(!(await accepted(between)), `${iso(between)}, between two windows, is refused`);
          }
        }
        // Blocked time at the ends of the range, or all of it when there is no window.
        const firstFree = windows[0]?.[0] ?? to;
        if (firstFree > from) expect(!(await accepted(from)), `from, ${iso(from)}, blocked, is refused`);
        const lastFree = windows.at(-1)?.[1] ?? from - 1;
        if (lastFree < to - 1) expect(!(await accepted(to - 1)), `to - 1 ms, ${iso(to - 1)}, blocked, is refused`);
        checkedRuns++;
      } finally {
        for (const c of created) await remove(c.id);
      }
    }),
    { seed, numRuns: runs, endOnFailure: true },
  );
  t.equal(checkedRuns >= runs, true, `${runs} random clusters checked (seed ${seed}; replay: ${replay})`);
  const { data: left } = await client.GET('/orders', { params: { query: { from: '2300-01-01T00:00:00Z' } } });
  t.same(left?.data, [], 'every order the test created is deleted again');
});
