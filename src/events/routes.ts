import type { components } from '../../generated/api.js';
import type { Db } from '../db/database.js';
import type { CursorCodec } from '../http/cursor.js';
import type { OperationHandlers } from '../http/operation-handler.js';
import { ProblemError, notFound } from '../http/problem.js';
import {
  CursorExpiredError,
  OrderHistoryNotFoundError,
  isEventPosition,
  type EventPosition,
  type EventRecord,
  type EventType,
} from './model.js';
import * as events from './use-cases.js';

type Event = components['schemas']['Event'];
type OrderEvent = components['schemas']['OrderEvent'];

export type EventOperations = OperationHandlers<'listEvents' | 'getOrderHistory'>;

/** The API's view of an event; `data` was built by the database in the resource's API form. */
export function toEvent(record: EventRecord): Event {
  return {
    id: record.id,
    type: record.type,
    occurredAt: record.occurredAt,
    actor: record.actor,
    subject: { type: record.subjectType, id: record.subjectId },
    data: record.data,
  } as Event;
}

/** The events feature's refusals as problems. */
export function eventProblem(error: unknown): ProblemError | undefined {
  if (error instanceof CursorExpiredError) {
    return new ProblemError(
      'cursor-expired',
      `Events after this cursor have passed the retention (${error.retentionDays} days) and were deleted; ` +
        'resynchronise from GET /orders and GET /services, then follow the feed from its start (without after).',
    );
  }
  if (error instanceof OrderHistoryNotFoundError) return notFound(`There is no history for order ${error.orderId}.`);
  return undefined;
}

export function eventRoutes(db: Db, cursors: CursorCodec, retentionDays: number): EventOperations {
  return {
    async listEvents(request) {
      const { limit = 50, after, types } = request.query;
      const position = after === undefined ? undefined : await positionFrom(cursors, after, 'feed', '/query/after');
      const page = await events.feedPage(
        db,
        { limit, after: position, types: types === undefined ? undefined : typesFrom(types) },
        retentionDays,
      );
      return { data: page.events.map(toEvent), nextCursor: await cursors.encode(cursorKey('feed', page.next)) };
    },

    async getOrderHistory(request) {
      const { limit = 50, cursor } = request.query;
      const position = cursor === undefined ? undefined : await positionFrom(cursors, cursor, 'history');
      const page = await events.orderHistory(db, request.params.orderId, position, limit);
      return {
        data: page.events.map((event) => toEvent(event) as OrderEvent),
        nextCursor: page.next ? await cursors.encode(cursorKey('history', page.next)) : null,
      };
    },
  };
}

/** The contract's pattern has checked every name; duplicates are harmless. */
function typesFrom(list: string): EventType[] {
  return [...new Set(list.split(','))] as EventType[];
}

/**
 * A cursor names what it pages (`feed` or `history`), so one issued for a list, or for the other,
 * is a 400 like a forged one.
 */
type CursorKind = 'feed' | 'history';

function cursorKey(kind: CursorKind, position: EventPosition): string[] {
  return [kind, position.txId, position.id];
}

function positionFrom(cursors: CursorCodec, cursor: string, kind: CursorKind, path?: string): Promise<EventPosition> {
  return cursors.decode(
    cursor,
    (key) => {
      const [tag, txId, id, ...rest] = key;
      if (tag !== kind || rest.length > 0 || !isEventPosition(txId, id)) return undefined;
      return { txId: txId as string, id: id as string };
    },
    path,
  );
}
