import fc from 'fast-check';

/** What tap's `t` offers that a property check uses. */
interface PropertyContext {
  comment(message: string): void;
  pass(message: string): void;
}

/**
 * A fast-check property run `runs` times from a printed seed (FC_SEED replays it), then one passing
 * assertion naming what held; fast-check's own failure (the shrunk counterexample and the seed)
 * fails the test.
 */
export function checkProperty<T>(
  t: PropertyContext,
  values: fc.Arbitrary<T>,
  holds: (value: T) => boolean,
  { seed: defaultSeed, runs, held }: { seed: number; runs: number; held: string },
): void {
  const seed = Number(process.env.FC_SEED ?? defaultSeed);
  t.comment(`seed ${seed} (FC_SEED replays it)`);
  fc.assert(fc.property(values, holds), { seed, numRuns: runs });
  t.pass(`${runs.toLocaleString('en')} ${held}`);
}
