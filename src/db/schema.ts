import type { ColumnType, Generated, Kysely, Transaction } from 'kysely';

/**
 * Row types, one per table, as Kysely sees them. Values are what both drivers return:
 * `int8` columns are always selected as text (`pg` and PGlite disagree on their JS type),
 * `numeric` comes back as a string from both, and a timestamptz as ISO 8601 text in UTC with
 * milliseconds (db/instants.ts), the form the API writes.
 */
export interface ServicesTable {
  id: Generated<number>;
  name: string;
  created_at: ColumnType<string, never, never>;
  updated_at: ColumnType<string, never, string>;
}

export interface OrdersTable {
  id: ColumnType<string, never, never>;
  datetime: ColumnType<string, string, string>;
  totalfee: ColumnType<string, string, string>;
  created_at: ColumnType<string, never, never>;
  updated_at: ColumnType<string, never, string>;
  created_by: string | null;
  updated_by: string | null;
  version: ColumnType<number, never, number>;
}

export interface OrderServicesTable {
  order_id: ColumnType<string, string, never>;
  service_id: ColumnType<number, number, never>;
}

export interface AppSecretsTable {
  name: string;
  secret: string;
  created_at: ColumnType<string, never, never>;
}

export interface ApiKeysTable {
  id: ColumnType<string, never, never>;
  name: string;
  key_hash: string;
  scopes: string[];
  created_at: ColumnType<string, never, never>;
  last_used_at: ColumnType<string | null, never, string>;
  revoked_at: ColumnType<string | null, never, string>;
}

export interface IdempotencyKeysTable {
  api_key_id: string;
  key: string;
  request_hash: string;
  status_code: number;
  response_headers: ColumnType<Record<string, string>, string, string>;
  response_body: ColumnType<unknown, string | null, string | null>;
  created_at: ColumnType<string, never, never>;
}

/** The outbox (db/outbox.ts): one row per committed write. `xid8` and `int8` are selected as text. */
export interface EventsTable {
  id: ColumnType<string, never, never>;
  tx_id: ColumnType<string, never, never>;
  type: string;
  occurred_at: ColumnType<string, never, never>;
  actor: string | null;
  subject_type: string;
  subject_id: string;
  data: ColumnType<unknown, string, never>;
}

/** One row: the highest event position retention has deleted. */
export interface EventHorizonTable {
  single: ColumnType<boolean, never, never>;
  tx_id: ColumnType<string, never, string>;
  id: ColumnType<string, never, string>;
}

export interface Database {
  services: ServicesTable;
  orders: OrdersTable;
  order_services: OrderServicesTable;
  app_secrets: AppSecretsTable;
  api_keys: ApiKeysTable;
  idempotency_keys: IdempotencyKeysTable;
  events: EventsTable;
  event_horizon: EventHorizonTable;
}

/** What a query runs on: the database, or a transaction a use case opened. */
export type Executor = Kysely<Database> | Transaction<Database>;
