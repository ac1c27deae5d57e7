import { sql } from 'kysely';
import t from 'tap';
import { isoInstantSql } from '../../../src/db/outbox.js';
import { allScopes } from '../../../src/keys/model.js';
import { createApiKey } from '../../../src/keys/use-cases.js';
import { loadContract } from '../../../src/http/contract.js';
import { seedCatalogue } from '../../helpers/fixtures.js';
import { apiClient, type ApiResponse } from '../../helpers/http.js';
import { startService } from '../../helpers/service.js';

/*
 * The examples in openapi.yaml are real: each one is sent to the running server and must get the
 * answer the document says it gets.
 *
 * - A request-body example is paired, by name, with the response example of the same name; the
 *   status that response is declared under is the status the request must get, and the body must
 *   be that example (see `comparable` for what may differ).
 * - An operation without request-body examples is sent once, with the parameter-level example of
 *   each path and query parameter, and must get its first 2xx status and, when that response has
 *   an example, its body.
 * - Every response also passes the contract check of apiClient (status declared, headers, schema).
 *
 * Every example starts from the state the examples are written against (`resetToExampleState`).
 */

const { db, url } = await startService(t);
// The examples show changes made by a key named "billing" (createdBy / updatedBy).
const { key } = await createApiKey(db, 'billing', allScopes);
const api = apiClient(url, key);
const { document } = loadContract();

/** Orders 223, 224, 225, three hours apart; service 456 is in none, so it can be removed. */
const exampleOrders = [
  { id: '223', datetime: '2022-11-01T11:11:11.111Z', serviceId: 123 },
  { id: '224', datetime: '2022-11-01T14:11:11.111Z', serviceId: 789 },
  { id: '225', datetime: '2022-11-01T17:11:11.111Z', serviceId: 123 },
] as const;

/**
 * The world the examples describe: the sample catalogue (123, 456, 789), the orders above (seeded,
 * so createdBy is null), and identity sequences at their start, so the next order is 1000 and the
 * next service with an assigned id is 1000000. The feed holds the seeded rows' creation events,
 * services then orders, by id (event ids 1 to 6), as a seed writes them.
 */
async function resetToExampleState(): Promise<void> {
  await sql`TRUNCATE order_services, orders, services, idempotency_keys, events RESTART IDENTITY`.execute(db);
  await sql`UPDATE event_horizon SET tx_id = '0', id = 0`.execute(db);
  await seedCatalogue(db);
  for (const order of exampleOrders) {
    await sql`
      WITH inserted AS (
        INSERT INTO orders (id, datetime, totalfee) VALUES (${order.id}::bigint, ${order.datetime}::timestamptz, 100) RETURNING id
      )
      INSERT INTO order_services (order_id, service_id) SELECT id, ${order.serviceId}::integer FROM inserted`.execute(
      db,
    );
  }
  await sql`
    INSERT INTO events (type, actor, subject_type, subject_id, data)
    SELECT 'service.created', NULL, 'service', id::text, jsonb_build_object('id', id, 'name', name)
    FROM services ORDER BY id`.execute(db);
  await sql`
    INSERT INTO events (type, actor, subject_type, subject_id, data)
    SELECT 'order.created', NULL, 'order', o.id::text, jsonb_build_object(
      'id', o.id::text, 'datetime', ${isoInstantSql(sql`o.datetime`)}, 'totalfee', o.totalfee,
      'services', (SELECT jsonb_agg(jsonb_build_object('id', s.id, 'name', s.name) ORDER BY s.id)
                   FROM order_services os JOIN services s ON s.id = os.service_id WHERE os.order_id = o.id),
      'createdAt', ${isoInstantSql(sql`o.created_at`)}, 'updatedAt', ${isoInstantSql(sql`o.updated_at`)},
      'createdBy', o.created_by, 'updatedBy', o.updated_by)
    FROM orders o ORDER BY o.id`.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- free-form JSON read by the test; the contract check validates it
type Json = Record<string, any>;

/** A `#/...` reference in the document → what it points at (followed until it is no reference). */
function resolve<T = Json>(node: Json): T {
  const ref = node.$ref;
  if (typeof ref !== 'string') return node as T;
  const target = ref
    .slice(2)
    .split('/')
    .reduce<unknown>((o, k) => (o as Json)[k.replace(/~1/g, '/').replace(/~0/g, '~')], document);
  return resolve<T>(target as Json);
}

interface Example {
  summary?: string;
  value: unknown;
}

interface MediaType {
  examples?: Record<string, Json>;
}

interface ResponseObject {
  content?: Record<string, MediaType>;
}

interface Parameter {
  name: string;
  in: string;
  examples?: Record<string, Json>;
}

interface Operation {
  operationId: string;
  parameters?: Json[];
  requestBody?: Json;
  responses: Record<string, Json>;
}

/** One request an example describes and the answer it must get. */
interface Exchange {
  operationId: string;
  label: string;
  method: string;
  path: string;
  body?: unknown;
  status: number;
  /** The response example the body must match, when there is one. */
  expected?: { mediaType: string; example: Example };
}

const methods = ['get', 'put', 'post', 'delete', 'patch'];

/** Server-set values that no example can predict: instants of the request, signed cursors. */
function comparable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(comparable);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([name, v]) => {
      if ((name === 'createdAt' || name === 'updatedAt' || name === 'occurredAt') && typeof v === 'string')
        return [name, '<instant of the request>'];
      if (name === 'nextCursor' && typeof v === 'string') return [name, '<cursor>'];
      return [name, comparable(v)];
    }),
  );
}

/** The response examples of an operation named `name`, by status. */
function responseExamplesNamed(
  operation: Operation,
  name: string,
): { status: number; mediaType: string; example: Example }[] {
  return Object.entries(operation.responses).flatMap(([status, response]) =>
    Object.entries(resolve<ResponseObject>(response).content ?? {}).flatMap(([mediaType, media]) => {
      const example = media.examples?.[name];
      return example ? [{ status: Number(status), mediaType, example: resolve<Example>(example) }] : [];
    }),
  );
}

/** The path (and query) filled in with each parameter's first parameter-level example. */
function requestPath(template: string, parameters: Parameter[]): string {
  const query = new URLSearchParams();
  let path = template;
  for (const parameter of parameters) {
    const first = Object.values(parameter.examples ?? {})[0];
    if (parameter.in === 'path') {
      if (!first) throw new Error(`path parameter ${parameter.name} of ${template} has no example`);
      path = path.replace(`{${parameter.name}}`, encodeURIComponent(String(resolve<Example>(first).value)));
    } else if (parameter.in === 'query' && first) {
      query.set(parameter.name, String(resolve<Example>(first).value));
    }
    // Header examples are not sent: If-Match, If-None-Match and Idempotency-Key change what an
    // example means, and each has its own tests.
  }
  const search = query.toString();
  return search ? `${path}?${search}` : path;
}

/** Every exchange the document's examples describe, in document order. */
function exchangesOf(): { exchanges: Exchange[]; unpaired: string[] } {
  const exchanges: Exchange[] = [];
  const unpaired: string[] = [];
  for (const [template, item] of Object.entries(document.paths)) {
    const pathParameters = ((item as Json).parameters ?? []) as Json[];
    for (const method of methods) {
      const operation = (item as Json)[method] as Operation | undefined;
      if (!operation) continue;
      const parameters = [...pathParameters, ...(operation.parameters ?? [])].map((p) => resolve<Parameter>(p));
      const path = requestPath(template, parameters);
      const bodyExamples =
        resolve<MediaType>(operation.requestBody?.content?.['application/json'] ?? {}).examples ?? {};
      const label = `${operation.operationId} (${method.toUpperCase()} ${template})`;
      if (Object.keys(bodyExamples).length > 0) {
        for (const [name, reference] of Object.entries(bodyExamples)) {
          const request = resolve<Example>(reference);
          const answers = responseExamplesNamed(operation, name);
          if (answers.length !== 1) {
            unpaired.push(
              `${label}: request example ${name} has ${answers.length} response examples of that name, not 1`,
            );
            continue;
          }
          const [answer] = answers as [(typeof answers)[number]];
          exchanges.push({
            operationId: operation.operationId,
            label: `${label} example ${name} (${request.summary ?? ''}) answers ${answer.status}`,
            method: method.toUpperCase(),
            path,
            body: request.value,
            status: answer.status,
            expected: { mediaType: answer.mediaType, example: answer.example },
          });
        }
      } else {
        const status = Object.keys(operation.responses)
          .map(Number)
          .filter((s) => s >= 200 && s < 300)
          .sort()[0];
        if (status === undefined) {
          unpaired.push(`${label}: no 2xx response`);
          continue;
        }
        const content = Object.entries(resolve<ResponseObject>(operation.responses[String(status)]!).content ?? {})[0];
        const example = content && Object.values(content[1].examples ?? {})[0];
        exchanges.push({
          operationId: operation.operationId,
          label: `${label} with its parameter examples answers ${status}`,
          method: method.toUpperCase(),
          path,
          status,
          ...(content && example ? { expected: { mediaType: content[0], example: resolve<Example>(example) } } : {}),
        });
      }
    }
  }
  return { exchanges, unpaired };
}

const { exchanges, unpaired } = exchangesOf();

t.test(
  'every request-body example has one response example of its name, and every operation has an example to send',
  async (t) => {
    t.same(unpaired, []);
    const operations = Object.values(document.paths).flatMap((item) =>
      methods.flatMap((m) => ((item as Json)[m] ? [(item as Json)[m] as Operation] : [])),
    );
    for (const { operationId, requestBody } of operations) {
      const own = exchanges.filter((e) => e.operationId === operationId);
      t.ok(own.length > 0, `${operationId} is exercised by an example`);
      if (requestBody)
        t.ok(
          own.some((e) => e.body !== undefined && e.status < 300),
          `${operationId} has a request example that succeeds`,
        );
    }
  },
);

for (const exchange of exchanges) {
  t.test(exchange.label, async (t) => {
    await resetToExampleState();
    const response: ApiResponse = await api.request(
      exchange.method,
      exchange.path,
      exchange.body === undefined ? {} : { body: exchange.body },
    );
    t.equal(response.status, exchange.status, `${exchange.method} ${exchange.path} answers ${exchange.status}`);

    const expected = exchange.expected;
    if (!expected) {
      t.equal(response.body, undefined, 'no body, as the response declares none');
    } else if (/json/.test(expected.mediaType)) {
      t.same(comparable(response.body), comparable(expected.example.value), 'the body is the response example');
    } else {
      // Text (Prometheus): the example's metric families are in the output.
      for (const line of String(expected.example.value)
        .split('\n')
        .filter((l) => l.startsWith('#'))) {
        t.ok(String(response.body).split('\n').includes(line), `the output has "${line}"`);
      }
    }

    if (exchange.status === 201) {
      t.equal(
        response.headers.get('location'),
        `${exchange.path.split('?')[0]}/${response.body.id}`,
        'Location names the created resource',
      );
    }
  });
}
