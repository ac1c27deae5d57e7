/**
 * How a property-based run of requests is set from the environment, for the fuzz test (FUZZ_*) and
 * its positive mode (POSITIVE_*): `<PREFIX>_SEED` replays a run, `<PREFIX>_RUNS` sets how many
 * requests, `<PREFIX>_ONLY=i,j` sends only those of the run.
 */
export function runSettings(
  prefix: 'FUZZ' | 'POSITIVE',
  defaults: { seed: number; runs: number },
): { seed: number; runs: number; only: Set<number> | undefined } {
  const env = process.env;
  const seed = Number(env[`${prefix}_SEED`] ?? defaults.seed);
  const runs = Number(env[`${prefix}_RUNS`] ?? defaults.runs);
  const onlyList = env[`${prefix}_ONLY`];
  if (!Number.isSafeInteger(seed) || !Number.isSafeInteger(runs) || runs < 1)
    throw new Error(`${prefix}_SEED and ${prefix}_RUNS must be integers`);
  return { seed, runs, only: onlyList ? new Set(onlyList.split(',').map(Number)) : undefined };
}

/** The seed of one batch of a run: distinct for every (run seed, batch), so batches never repeat. */
export function batchSeed(seed: number, batch: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(batch + 1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x27d4eb2d);
  return (h ^ (h >>> 15)) | 0;
}
