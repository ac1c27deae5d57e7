import type { components } from '../../generated/api.js';
import { bodyIdMismatch, invalidRequest, type FieldError } from '../http/problem.js';
import { notAnInstant, utcInstant } from '../http/instant.js';
import { isOrderId, type OrderDraft } from './model.js';

type OrderInput = components['schemas']['OrderInput'];

const EXACT_FEE = /^\d+(\.\d{1,2})?$/;

/**
 * The order a validated body stands for, with the checks JSON Schema cannot express: distinct
 * services, and a body id matching the path. The instant's years and the fee's two decimals are the
 * contract's (DateTimeInput's pattern; `multipleOf: 0.01`, read in decimal by src/http/validation.ts);
 * both are checked again here, the fee on its exact decimal text, so that no draft is ever built from
 * a value the database would not store as sent.
 */
export function orderDraftFrom(input: OrderInput, pathId?: string): OrderDraft {
  const errors: FieldError[] = [];

  const datetime = utcInstant(input.datetime);
  if (datetime === undefined) errors.push({ path: '/body/datetime', message: notAnInstant });

  // String(n) is the shortest text that round-trips to n, so 100.1 stays "100.1", never 100.09999.
  const totalfee = String(input.totalfee);
  if (!EXACT_FEE.test(totalfee)) {
    errors.push({ path: '/body/totalfee', message: 'must have at most 2 decimal places' });
  }

  const serviceIds: number[] = [];
  input.services.forEach((service, index) => {
    const id = Number(service.id);
    if (serviceIds.includes(id)) {
      errors.push({ path: `/body/services/${index}/id`, message: `duplicates service ${id}` });
    } else {
      serviceIds.push(id);
    }
  });

  if (pathId !== undefined && input.id !== undefined && !sameOrderId(input.id, pathId)) {
    errors.push(bodyIdMismatch('order', pathId));
  }

  if (errors.length > 0 || datetime === undefined) throw invalidRequest(errors);
  return { datetime, totalfee, serviceIds };
}

function sameOrderId(a: string, b: string): boolean {
  return isOrderId(a) && BigInt(a) === BigInt(b);
}
