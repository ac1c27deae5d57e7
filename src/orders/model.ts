import type { NearestFree } from '../availability/model.js';
import { Refusal } from '../refusal.js';

/** A catalogue entry as an order shows it. */
export interface OrderService {
  id: number;
  name: string;
}

export interface OrderRecord {
  /** Digits, as text: ids are int8, beyond what a JSON number holds exactly. */
  id: string;
  /** ISO 8601 in UTC with milliseconds, like every instant here. */
  datetime: string;
  /** Exact decimal text, as stored. */
  totalfee: string;
  services: OrderService[];
  createdAt: string;
  updatedAt: string;
  /** Name of the API key that created / last changed the order; null for seeded data. */
  createdBy: string | null;
  updatedBy: string | null;
  /** Incremented by every replace; the basis of the ETag. */
  version: number;
}

/** What a client asks for when creating or replacing an order, already normalised. */
export interface OrderDraft {
  /** UTC instant with millisecond precision, ISO 8601. */
  datetime: string;
  /** Exact decimal text with at most 2 decimal places. */
  totalfee: string;
  /** Distinct catalogue ids. */
  serviceIds: number[];
}

/** Where a page of orders stands in (datetime, id) order. */
export interface OrderPosition {
  datetime: string;
  id: string;
}

export interface OrderListQuery {
  limit: number;
  after?: OrderPosition;
  from?: string;
  to?: string;
  serviceId?: number;
}

/** Versions a conditional write accepts (If-Match); undefined when it states no condition. */
export type ExpectedVersions = readonly number[] | undefined;

const ORDER_ID = /^\d{1,18}$/;

/** An order id as the API writes it: 1 to 18 digits (int8 without a sign). */
export function isOrderId(text: string): boolean {
  return ORDER_ID.test(text);
}

/** The order that holds part of a requested 3-hour window. */
export interface ConflictingOrder {
  id: string;
  datetime: string;
}

/** Another order already holds part of the requested 3-hour window. */
export class ScheduleConflictError extends Refusal {
  constructor(
    readonly requested: string,
    /** Undefined only when the order in the way vanished again and again while it was looked up. */
    readonly conflicting: ConflictingOrder | undefined,
    /** The nearest free starts around `requested`: looked up once the refusal is final. */
    readonly nearestFree?: NearestFree,
  ) {
    super(`another order is less than 3 hours from ${requested}`);
  }
}

export class UnknownServicesError extends Refusal {
  constructor(readonly serviceIds: number[]) {
    super(`unknown service ids: ${serviceIds.join(', ')}`);
  }
}

export class OrderNotFoundError extends Refusal {
  constructor(readonly orderId: string) {
    super(`there is no order ${orderId}`);
  }
}

/** A conditional write expected another version of the order than the current one. */
export class OrderVersionMismatchError extends Refusal {
  constructor(
    readonly orderId: string,
    readonly currentVersion: number,
  ) {
    super(`order ${orderId} is at version ${currentVersion}`);
  }
}
