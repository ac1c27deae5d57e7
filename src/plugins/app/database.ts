import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { selectOne, type Db } from '../../db/database.js';
import { sharedSecret } from '../../db/secrets.js';
import { CursorCodec } from '../../http/cursor.js';

declare module 'fastify' {
  interface FastifyInstance {
    db: Db;
    /** Resolves when the database answers within `timeoutMs` (readiness). */
    ping: (timeoutMs: number) => Promise<void>;
    /** The one cursor codec of every list, keyed by a secret all processes on the database share. */
    cursors: CursorCodec;
  }
}

export interface DatabaseOptions {
  db: Db;
  ping?: (timeoutMs: number) => Promise<void>;
}

/** The database the app serves, opened (and later closed) by the caller of buildApp. */
async function database(app: FastifyInstance, { db, ping = () => selectOne(db) }: DatabaseOptions): Promise<void> {
  app.decorate('db', db);
  app.decorate('ping', ping);
  app.decorate('cursors', new CursorCodec(() => sharedSecret(db, 'cursor-signing')));
}

export default fp(database, { name: 'database' });
