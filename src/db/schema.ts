import type { ColumnType, Generated } from 'kysely';

/**
 * Row types, one per table, as Kysely sees them. Values are what both drivers return:
 * `int8` columns are always selected as text (`pg` and PGlite disagree on their JS type) and
 * `numeric` comes back as a string from both.
 */
export interface ServicesTable {
  id: Generated<number>;
  name: string;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, never, Date | string>;
}

export interface OrdersTable {
  id: ColumnType<string, never, never>;
  datetime: ColumnType<Date, string, string>;
  totalfee: ColumnType<string, string, string>;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, never, Date | string>;
}

export interface OrderServicesTable {
  order_id: ColumnType<string, string, never>;
  service_id: ColumnType<number, number, never>;
}

export interface AppSecretsTable {
  name: string;
  secret: string;
  created_at: ColumnType<Date, never, never>;
}

export interface Database {
  services: ServicesTable;
  orders: OrdersTable;
  order_services: OrderServicesTable;
  app_secrets: AppSecretsTable;
}
