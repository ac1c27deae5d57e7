import type { CursorCodec } from '../http/cursor.js';
import { utcInstant } from './instant.js';
import type { OrderPosition, OrderRecord } from './repository.js';

export function orderCursorAfter(cursors: CursorCodec, order: OrderRecord): Promise<string> {
  return cursors.encode([order.datetime.toISOString(), order.id]);
}

export function orderPositionFrom(cursors: CursorCodec, cursor: string): Promise<OrderPosition> {
  return cursors.decode(cursor, (key) => {
    const [datetime, id, ...rest] = key;
    if (rest.length > 0 || typeof datetime !== 'string' || typeof id !== 'string') return undefined;
    if (utcInstant(datetime) !== datetime || !/^\d{1,18}$/.test(id)) return undefined;
    return { datetime, id };
  });
}
