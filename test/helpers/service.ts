import { buildApp } from '../../src/app.js';
import type { OrdersClient } from '../../src/client.js';
import type { HttpSettings } from '../../src/config.js';
import type { DatabaseTarget, Db } from '../../src/db/database.js';
import { allScopes } from '../../src/keys/model.js';
import { createApiKey } from '../../src/keys/use-cases.js';
import { freshDatabase, type TestContext } from './database.js';
import { apiClient, typedClient, type Api } from './http.js';

export interface RunningService {
  /** The typed client (src/client.ts) holding an API key with every scope. */
  client: OrdersClient;
  /** Raw HTTP with the same key, for requests the types forbid. */
  api: Api;
  /** That key, for tests that build their own requests. */
  apiKey: string;
  db: Db;
  target: DatabaseTarget;
  url: string;
}

/**
 * The service on a fresh migrated database, listening on a free port, closed at teardown. Rate
 * limiting is off unless a test asks for it, so suites can send as much as they need.
 */
export async function startService(t: TestContext, http: Partial<HttpSettings> = {}): Promise<RunningService> {
  const { db, target } = await freshDatabase(t);
  const { key } = await createApiKey(db, 'test-suite', allScopes);
  const app = await buildApp({ db, http: { rateLimitPerMinute: 0, ...http } });
  t.teardown(() => app.close());
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { client: typedClient(url, key), api: apiClient(url, key), apiKey: key, db, target, url };
}
