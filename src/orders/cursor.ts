import { decodeCursor, encodeCursor } from '../http/cursor.js';
import { utcInstant } from './instant.js';
import type { OrderPosition, OrderRecord } from './repository.js';

export function orderCursorAfter(order: OrderRecord): string {
  return encodeCursor([order.datetime.toISOString(), order.id]);
}

export function orderPositionFrom(cursor: string): OrderPosition {
  return decodeCursor(cursor, (key) => {
    const [datetime, id, ...rest] = key;
    if (rest.length > 0 || typeof datetime !== 'string' || typeof id !== 'string') return undefined;
    if (utcInstant(datetime) !== datetime || !/^\d{1,18}$/.test(id)) return undefined;
    return { datetime, id };
  });
}
