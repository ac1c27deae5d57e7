// The same tests as database-restart.postgres.test.ts, with the service reaching Postgres through PgBouncer in
// transaction mode (test/helpers/pgbouncer.ts), as a deployment of many processes would.
process.env.TEST_ROUTE = 'pgbouncer';
await import('./database-restart.postgres.test.js');
