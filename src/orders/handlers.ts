import type { components, operations } from '../../generated/api.js';
import type { Db } from '../db/database.js';
import type { CursorCodec } from '../http/cursor.js';
import { idempotently } from '../http/idempotency.js';
import type { OperationHandler } from '../http/operations.js';
import { etagOf, noneMatch, versionsAcceptedBy } from '../http/preconditions.js';
import { ProblemError, invalidRequest, notFound } from '../http/problem.js';
import { orderCursorAfter, orderPositionFrom } from './cursor.js';
import { orderDraftFrom } from './input.js';
import { notAnInstant, utcInstantRoundedUp } from './instant.js';
import { createOrder, deleteOrder, findOrderById, isRefusal, listOrders, replaceOrder, type OrderRecord, type WriteRefusal } from './repository.js';

type Order = components['schemas']['Order'];

/** The API's view of an order: ids as digit strings, instants as UTC ISO with milliseconds. */
export function toOrder(record: OrderRecord): Order {
  return {
    id: record.id,
    datetime: record.datetime.toISOString(),
    // numeric text → JSON number; exact for every value with at most 2 decimals and 15 digits.
    totalfee: Number(record.totalfee),
    services: record.services,
    createdAt: record.createdAt.toISOString(),
    updatedAt: record.updatedAt.toISOString(),
    createdBy: record.createdBy,
    updatedBy: record.updatedBy,
  };
}

export interface OrderHandlers {
  listOrders: OperationHandler<operations['listOrders']>;
  createOrder: OperationHandler<operations['createOrder']>;
  getOrder: OperationHandler<operations['getOrder']>;
  replaceOrder: OperationHandler<operations['replaceOrder']>;
  deleteOrder: OperationHandler<operations['deleteOrder']>;
}

const noSuchOrder = (id: string) => notFound(`There is no order ${id}.`);

/** 404 or 412 for a replace or delete that did not happen. */
function refusalProblem(id: string, refusal: WriteRefusal): ProblemError {
  if (refusal.refused === 'not-found') return noSuchOrder(id);
  const current = etagOf({ id, version: refusal.currentVersion });
  return new ProblemError('precondition-failed', `Order ${id} has changed: its ETag is now ${current}.`, {}, { etag: current });
}

/** The API key's name, recorded as createdBy / updatedBy. */
function actor(request: { caller: { name: string } | null }): string {
  if (!request.caller) throw new Error('an order was written without a verified caller');
  return request.caller.name;
}

export function orderHandlers(db: Db, cursors: CursorCodec): OrderHandlers {
  return {
    async listOrders(request) {
      const { limit = 50, cursor, from, to, serviceId } = request.query;
      const fromInstant = from === undefined ? undefined : queryInstant(from, '/query/from');
      const toInstant = to === undefined ? undefined : queryInstant(to, '/query/to');
      if (fromInstant && toInstant && fromInstant > toInstant) {
        throw invalidRequest([{ path: '/query/to', message: 'must not be before from' }]);
      }
      const after = cursor === undefined ? undefined : await orderPositionFrom(cursors, cursor);
      // One extra row tells whether another page exists without a count query.
      const rows = await listOrders(db, { limit: limit + 1, after, from: fromInstant, to: toInstant, serviceId });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { data: page.map(toOrder), nextCursor: rows.length > limit && last ? await orderCursorAfter(cursors, last) : null };
    },

    async createOrder(request, reply) {
      const draft = orderDraftFrom(request.body);
      const by = actor(request);
      const fingerprint = { ...draft, serviceIds: [...draft.serviceIds].sort((a, b) => a - b) };
      return idempotently(db, request, reply, fingerprint, async (executor) => {
        const order = await createOrder(executor, draft, by);
        return { statusCode: 201, headers: { location: `/orders/${order.id}`, etag: etagOf(order) }, body: toOrder(order) };
      });
    },

    async getOrder(request, reply) {
      const order = await findOrderById(db, request.params.orderId);
      if (!order) throw noSuchOrder(request.params.orderId);
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
      const result = await replaceOrder(db, orderId, draft, actor(request), versionsAcceptedBy(request.headers['if-match'], orderId));
      if (isRefusal(result)) throw refusalProblem(orderId, result);
      reply.header('etag', etagOf(result));
      return toOrder(result);
    },

    async deleteOrder(request, reply) {
      const { orderId } = request.params;
      const refusal = await deleteOrder(db, orderId, versionsAcceptedBy(request.headers['if-match'], orderId));
      if (refusal) throw refusalProblem(orderId, refusal);
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
