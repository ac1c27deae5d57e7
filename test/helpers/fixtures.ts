import type { components } from '../../src/client.js';
import type { Db } from '../../src/db/database.js';

/** Catalogue entries most tests use. */
export async function seedCatalogue(db: Db): Promise<void> {
  await db
    .insertInto('services')
    .values([
      { id: 123, name: 'Inspection' },
      { id: 789, name: 'Testing' },
      { id: 456, name: 'Analysis' },
    ])
    .execute();
}

/** An order body at `datetime` for service 123 unless told otherwise. */
export function orderBody(datetime: string, overrides: Partial<OrderInput> = {}): OrderInput {
  return { datetime, totalfee: 100, services: [{ id: 123 }], ...overrides };
}

type OrderInput = components['schemas']['OrderInput'];
