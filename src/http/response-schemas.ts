/** A route's response schemas as fastify-openapi-glue writes them: per status, optionally per media type. */
type ResponseSchemas = Record<string, unknown>;

/**
 * The response schemas of a route with every status whose only media type is application/json
 * given as that schema itself, as Fastify takes it for a plain route. Fastify picks a per-media-type
 * serializer by parsing the reply's Content-Type on every response (fastify's ContentType.from and
 * its cache: about 1.5 µs a response, the largest of Fastify's own costs on a free-time request,
 * measured with the CPU profiler), where a plain per-status schema is one property lookup. The
 * bytes are the same: the same schema compiles to the same serializer. A status with another
 * media type (problem+json, text) keeps its map, so what it sends is still matched by type.
 */
export function withPlainJsonResponses(response: ResponseSchemas): ResponseSchemas {
  const plain: ResponseSchemas = {};
  for (const [status, entry] of Object.entries(response)) {
    const content = (entry as { content?: Record<string, { schema?: unknown }> } | null)?.content;
    const types = content === undefined ? [] : Object.keys(content);
    const schema =
      types.length === 1 && types[0] === 'application/json' ? content!['application/json']!.schema : undefined;
    plain[status] = schema === undefined ? entry : schema;
  }
  return plain;
}
