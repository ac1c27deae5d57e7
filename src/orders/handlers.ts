import type { components, operations } from '../../generated/api.js';
import type { Db } from '../db/database.js';
import type { CursorCodec } from '../http/cursor.js';
import { invalidRequest, notFound } from '../http/problem.js';
import type { OperationHandler } from '../http/operations.js';
import { orderCursorAfter, orderPositionFrom } from './cursor.js';
import { orderDraftFrom } from './input.js';
import { notAnInstant, utcInstantRoundedUp } from './instant.js';
import { createOrder, deleteOrder, findOrderById, listOrders, replaceOrder, type OrderRecord } from './repository.js';

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
      const order = await createOrder(db, orderDraftFrom(request.body));
      reply.code(201).header('location', `/orders/${order.id}`);
      return toOrder(order);
    },

    async getOrder(request) {
      const order = await findOrderById(db, request.params.orderId);
      if (!order) throw noSuchOrder(request.params.orderId);
      return toOrder(order);
    },

    async replaceOrder(request) {
      const { orderId } = request.params;
      const order = await replaceOrder(db, orderId, orderDraftFrom(request.body, orderId));
      if (!order) throw noSuchOrder(orderId);
      return toOrder(order);
    },

    async deleteOrder(request, reply) {
      if (!(await deleteOrder(db, request.params.orderId))) throw noSuchOrder(request.params.orderId);
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
