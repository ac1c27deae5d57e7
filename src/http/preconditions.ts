/**
 * Conditional requests on orders (RFC 9110 §13): the ETag is the order id and its version, so a
 * client can tell which state it last saw, and If-Match / If-None-Match compare against it.
 */
export function etagOf(order: { id: string; version: number }): string {
  return `"${order.id}-${order.version}"`;
}

const ENTITY_TAG = /^(W\/)?"([^"]*)"$/;

function entityTags(header: string): { weak: boolean; opaque: string }[] {
  return header
    .split(',')
    .map((part) => ENTITY_TAG.exec(part.trim()))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => ({ weak: match[1] !== undefined, opaque: match[2]! }));
}

/**
 * The versions of order `orderId` that an If-Match header accepts: undefined when there is no
 * condition (no header, or `*`, since replace and delete need an existing order anyway), else the
 * list, possibly empty (weak tags never match under If-Match's strong comparison).
 */
export function versionsAcceptedBy(ifMatch: string | undefined, orderId: string): number[] | undefined {
  if (ifMatch === undefined || ifMatch.trim() === '*') return undefined;
  const prefix = `${orderId}-`;
  return (
    entityTags(ifMatch)
      // Strong comparison is exact: "223-01" is not "223-1".
      .filter(
        (tag) => !tag.weak && tag.opaque.startsWith(prefix) && /^[1-9]\d{0,8}$/.test(tag.opaque.slice(prefix.length)),
      )
      .map((tag) => Number(tag.opaque.slice(prefix.length)))
  );
}

/** If-None-Match uses weak comparison: W/"x" and "x" both match "x". */
export function noneMatch(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return true;
  if (ifNoneMatch.trim() === '*') return false;
  const opaque = etag.slice(1, -1);
  return !entityTags(ifNoneMatch).some((tag) => tag.opaque === opaque);
}
