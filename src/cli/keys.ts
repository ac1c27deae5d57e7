import { parseArgs } from 'node:util';
import { DuplicateKeyNameError, allScopes, isScope, type Scope } from '../keys/model.js';
import { createApiKey, listApiKeys, revokeApiKey } from '../keys/use-cases.js';
import { loadConfig } from '../config.js';
import { databaseTargetFrom, openDatabase, type Db } from '../db/database.js';
import { migrateToLatest } from '../db/migrator.js';

const usage = `Manage API keys (on DATABASE_URL, or the embedded database when it is unset):
  npm run keys -- create --name <name> --scopes <scope,scope,...>   prints the new key once
  npm run keys -- list                                             names, scopes and dates; never keys
  npm run keys -- revoke <name>                                    the key stops working within the key cache's lifetime
Scopes: ${allScopes.join(', ')}`;

class UsageError extends Error {}

async function run(db: Db, argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { name: { type: 'string' }, scopes: { type: 'string' } },
  });
  const [command, ...rest] = positionals;
  switch (command) {
    case 'create': {
      if (!values.name || !values.scopes || rest.length > 0) throw new UsageError('create needs --name and --scopes');
      const scopes = values.scopes.split(',').map((s) => s.trim());
      const unknown = scopes.filter((s) => !isScope(s));
      if (unknown.length > 0) throw new UsageError(`unknown scope ${unknown.join(', ')}`);
      if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(values.name))
        throw new UsageError('a name is 1-64 of a-z, 0-9, ".", "_" and "-", starting with a letter or digit');
      const { key, record } = await createApiKey(db, values.name, scopes as Scope[]);
      console.log(
        `Created key "${record.name}" with scopes ${record.scopes.join(', ')}. Store it now; it is not shown again:\n\n${key}\n`,
      );
      return;
    }
    case 'list': {
      const keys = await listApiKeys(db);
      if (keys.length === 0) return console.log('No API keys.');
      const rows = keys.map((k) => [k.name, k.scopes.join(','), k.createdAt, k.lastUsedAt ?? '-', k.revokedAt ?? '-']);
      const header = ['NAME', 'SCOPES', 'CREATED', 'LAST USED', 'REVOKED'];
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      for (const row of [header, ...rows])
        console.log(
          row
            .map((cell, i) => cell.padEnd(widths[i]!))
            .join('  ')
            .trimEnd(),
        );
      return;
    }
    case 'revoke': {
      if (rest.length !== 1) throw new UsageError('revoke needs the name of one key');
      if (!(await revokeApiKey(db, rest[0]!))) throw new UsageError(`no live key named "${rest[0]}"`);
      console.log(`Revoked key "${rest[0]}".`);
      return;
    }
    default:
      throw new UsageError(command ? `unknown command "${command}"` : 'no command');
  }
}

const { db } = await openDatabase(databaseTargetFrom(loadConfig()));
try {
  await migrateToLatest(db);
  await run(db, process.argv.slice(2));
} catch (error) {
  if (
    error instanceof UsageError ||
    error instanceof DuplicateKeyNameError ||
    (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
  ) {
    console.error(`${(error as Error).message}\n\n${usage}`);
    process.exitCode = 1;
  } else {
    throw error;
  }
} finally {
  await db.destroy();
}
