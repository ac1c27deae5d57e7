import type { components } from '../../generated/api.js';
import type { NearestFree } from '../availability/model.js';
import type { Db } from '../db/database.js';
import type { CursorCodec } from '../http/cursor.js';
import type { OperationHandlers } from '../http/operation-handler.js';
import { pageOf } from '../http/paging.js';
import { etagOf, noneMatch, versionsAcceptedBy } from '../http/preconditions.js';
import { ProblemError, invalidRequest, notFound } from '../http/problem.js';
import { idempotentRequestOf, respond, respondOnce } from '../idempotency/http.js';
import type { StoredResponse } from '../idempotency/model.js';
import { orderDraftFrom } from './input.js';
import { notAnInstant, utcInstant, utcInstantRoundedUp } from '../http/instant.js';
import {
  OrderNotFoundError,
  OrderVersionMismatchError,
  ScheduleConflictError,
  UnknownServicesError,
  isOrderId,
  type OrderPosition,
  type OrderRecord,
} from './model.js';
import * as orders from './use-cases.js';

type Order = components['schemas']['Order'];

export type OrderOperations = OperationHandlers<
  'listOrders' | 'createOrder' | 'getOrder' | 'replaceOrder' | 'deleteOrder'
>;

/** The API's view of an order: ids as digit strings, instants as UTC ISO with milliseconds. */
export function toOrder(record: OrderRecord): Order {
  return {
    id: record.id,
    datetime: record.datetime,
    // numeric text → JSON number; exact for every value with at most 2 decimals and 15 digits.
    totalfee: Number(record.totalfee),
    services: record.services,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    createdBy: record.createdBy,
    updatedBy: record.updatedBy,
  };
}

/** The orders feature's refusals as problems. */
export function orderProblem(error: unknown): ProblemError | undefined {
  if (error instanceof ScheduleConflictError) {
    const { conflicting, requested, nearestFree } = error;
    const nearest = nearestFree
      ? { nearestFreeBefore: nearestFree.before, nearestFreeAfter: nearestFree.after }
      : ({} as const);
    const advice = nearestFree ? ` ${nearestFreeSentence(nearestFree)}` : '';
    if (!conflicting) {
      return new ProblemError(
        'schedule-conflict',
        `Another order is scheduled less than 3 hours from ${requested}.${advice}`,
        nearest,
      );
    }
    const at = conflicting.datetime;
    return new ProblemError(
      'schedule-conflict',
      `Order ${conflicting.id} is scheduled at ${at}, less than 3 hours from ${requested}. ` +
        `Orders must be at least 3 hours apart.${advice}`,
      { conflictingOrderId: conflicting.id, conflictingDatetime: at, ...nearest },
    );
  }
  if (error instanceof UnknownServicesError) {
    const ids = error.serviceIds;
    const detail =
      ids.length === 1
        ? `Service ${ids[0]} is not in the catalogue.`
        : `Services ${ids.join(', ')} are not in the catalogue.`;
    return new ProblemError('unknown-service', detail, { unknownServiceIds: ids });
  }
  if (error instanceof OrderNotFoundError) return notFound(`There is no order ${error.orderId}.`);
  if (error instanceof OrderVersionMismatchError) {
    const current = etagOf({ id: error.orderId, version: error.currentVersion });
    return new ProblemError(
      'precondition-failed',
      `Order ${error.orderId} has changed: its ETag is now ${current}.`,
      {},
      {
        etag: current,
      },
    );
  }
  return undefined;
}

/** The nearest free times, in words, for a 409's detail. */
export function nearestFreeSentence({ before, after }: NearestFree): string {
  if (before !== null && after !== null) {
    return `The nearest free times are ${before} (before) and ${after} (after).`;
  }
  if (before !== null) return `The nearest free time is ${before} (before); there is none after.`;
  if (after !== null) return `The nearest free time is ${after} (after); there is none before.`;
  return 'There is no free time before or after it.';
}

/** The API key's name, recorded as createdBy / updatedBy. */
function actor(request: { caller: { name: string } | null }): string {
  if (!request.caller) throw new Error('an order was written without a verified caller');
  return request.caller.name;
}

function created(order: OrderRecord): StoredResponse {
  return { statusCode: 201, headers: { location: `/orders/${order.id}`, etag: etagOf(order) }, body: toOrder(order) };
}

export function orderRoutes(db: Db, cursors: CursorCodec): OrderOperations {
  return {
    async listOrders(request) {
      const { limit = 50, cursor, from, to, serviceId } = request.query;
      const fromInstant = from === undefined ? undefined : queryInstant(from, '/query/from');
      const toInstant = to === undefined ? undefined : queryInstant(to, '/query/to');
      if (fromInstant && toInstant && fromInstant > toInstant) {
        throw invalidRequest([{ path: '/query/to', message: 'must not be before from' }]);
      }
      const after = cursor === undefined ? undefined : await positionFrom(cursors, cursor);
      // One extra row tells whether another page exists (see pageOf).
      const rows = await orders.listOrderPage(db, {
        limit: limit + 1,
        after,
        from: fromInstant,
        to: toInstant,
        serviceId,
      });
      return pageOf(rows, limit, cursors, (order) => [order.datetime, order.id], toOrder);
    },

    async createOrder(request, reply) {
      const draft = orderDraftFrom(request.body);
      const by = actor(request);
      const fingerprint = { ...draft, serviceIds: [...draft.serviceIds].sort((a, b) => a - b) };
      const keyed = idempotentRequestOf(request, fingerprint, created, orderProblem);
      if (!keyed) return respond(reply, created(await orders.createOrder(db, draft, by)));
      return respondOnce(reply, await orders.createOrderOnce(db, draft, by, keyed));
    },

    async getOrder(request, reply) {
      const order = await orders.getOrder(db, request.params.orderId);
      const etag = etagOf(order);
      reply.header('etag', etag);
      if (!noneMatch(request.headers['if-none-match'], etag)) {
        // 304: the client's copy is current; no body.
        reply.code(304).send();
        return undefined;
      }
      return toOrder(order);
    },

    async replaceOrder(request, reply) {
      const { orderId } = request.params;
      const draft = orderDraftFrom(request.body, orderId);
      const expected = versionsAcceptedBy(request.headers['if-match'], orderId);
      const order = await orders.replaceOrder(db, orderId, draft, actor(request), expected);
      reply.header('etag', etagOf(order));
      return toOrder(order);
    },

    async deleteOrder(request, reply) {
      const { orderId } = request.params;
      await orders.deleteOrder(db, orderId, versionsAcceptedBy(request.headers['if-match'], orderId), actor(request));
      reply.code(204);
      return undefined;
    },
  };
}

/** Query bounds compare in UTC with millisecond precision, like stored datetimes. */
function queryInstant(text: string, path: string): string {
  const instant = utcInstantRoundedUp(text);
  if (instant === undefined) throw invalidRequest([{ path, message: notAnInstant }]);
  return instant;
}

/** A list cursor's position: the (datetime, id) of the last order on the page before. */
function positionFrom(cursors: CursorCodec, cursor: string): Promise<OrderPosition> {
  return cursors.decode(cursor, (key) => {
    const [datetime, id, ...rest] = key;
    if (rest.length > 0 || typeof datetime !== 'string' || typeof id !== 'string') return undefined;
    if (utcInstant(datetime) !== datetime || !isOrderId(id)) return undefined;
    return { datetime, id };
  });
}
