import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { countRows } from '../helpers/database.js';
import { eventsAppendedBy } from '../helpers/events.js';
import { orderBody, seedCatalogue } from '../helpers/fixtures.js';
import { startService } from '../helpers/service.js';

// Item 10 of issue 15, "generated clients are precise": clients generated from openapi.yaml by two
// common generators compile under `--strict` against a short consumer program and work against the
// real service. Each program (test/clients/programs/<generator>.ts) creates an order, reads a
// schedule conflict through the client's typed error (nearestFreeBefore/After and the const type,
// without casts: only the specific ScheduleConflictProblem types them so), replaces the order with
// If-Match, is refused with the stale tag, deletes it, and prints what it saw as one JSON line.
// Generation happens once per run, into a temporary directory; nothing is cached in the repository.

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const programs = join(repoRoot, 'test', 'clients', 'programs');
/** A file of an installed package (orval's exports hide its package.json, so not through require.resolve). */
const bin = (pkg: string, path: string) => join(repoRoot, 'node_modules', pkg, path);
const tsc = bin('typescript', 'bin/tsc');

/** What a program prints: the statuses it got and what it read from the responses. */
interface Summary {
  generator: string;
  defaultBaseUrl: string | null;
  created: { status: number; id: string; etag: string | null };
  conflict: {
    status: number;
    type: string;
    instance: string;
    conflictingOrderId: string | null;
    nearestFreeBefore: string | null;
    nearestFreeAfter: string | null;
  };
  replaced: { status: number; totalfee: number; etag: string | null };
  stale: { status: number; type: string | null };
  deleted: { status: number };
}

interface Generator {
  name: 'hey-api' | 'orval';
  /** The package and the version package.json pins. */
  pkg: string;
  /** Writes the client into `<dir>/<name>/`. */
  generate(dir: string): Promise<Run>;
  /** Generated files that hold the schemas' types. */
  typesFile: string;
  /** How the consumer resolves the generated imports (orval writes its mutator's import without an extension). */
  moduleSettings: { module: string; moduleResolution: string };
}

const generators: Generator[] = [
  {
    name: 'hey-api',
    pkg: '@hey-api/openapi-ts',
    typesFile: 'hey-api/types.gen.ts',
    moduleSettings: { module: 'NodeNext', moduleResolution: 'NodeNext' },
    generate: (dir) =>
      run(process.execPath, [
        bin('@hey-api/openapi-ts', 'bin/run.js'),
        '--input',
        join(repoRoot, 'openapi.yaml'),
        '--output',
        join(dir, 'hey-api'),
        '--plugins',
        '@hey-api/client-fetch',
        '@hey-api/typescript',
        '@hey-api/sdk',
        '--silent',
      ]),
  },
  {
    name: 'orval',
    pkg: 'orval',
    typesFile: 'orval/client.ts',
    moduleSettings: { module: 'ESNext', moduleResolution: 'Bundler' },
    generate: async (dir) => {
      const config = join(dir, 'orval.config.cjs');
      await writeFile(
        config,
        `module.exports = ${JSON.stringify({
          orders: {
            input: { target: join(repoRoot, 'openapi.yaml') },
            output: {
              target: join(dir, 'orval', 'client.ts'),
              client: 'fetch',
              mode: 'single',
              headers: true,
              baseUrl: { getBaseUrlFromSpecification: true },
              override: { mutator: { path: join(dir, 'orval-fetch.ts'), name: 'ordersFetch' } },
            },
          },
        })};\n`,
      );
      return run(process.execPath, [bin('orval', 'dist/bin/orval.js'), '--config', config], dir);
    },
  },
];

const { url, apiKey, db, client } = await startService(t);
await seedCatalogue(db);
const scratch = await mkdtemp(join(tmpdir(), 'orders-clients-'));
t.teardown(() => rm(scratch, { recursive: true, force: true }));

// The programs are ES modules compiled as a consumer would, under --strict, with Node's types from
// this repository's node_modules (the scratch directory has none of its own).
await writeFile(join(scratch, 'package.json'), '{ "type": "module" }\n');
await copyFile(join(programs, 'orval-fetch.ts'), join(scratch, 'orval-fetch.ts'));

/** Generates and compiles each client at once (the two run side by side); each test awaits its own. */
const prepared = new Map(generators.map((generator) => [generator.name, prepare(generator)] as const));

async function prepare(generator: Generator) {
  const started = performance.now();
  const generated = await generator.generate(scratch);
  const generateMs = Math.round(performance.now() - started);
  if (generated.code !== 0) return { generated, generateMs };
  await copyFile(join(programs, `${generator.name}.ts`), join(scratch, `${generator.name}.ts`));
  const tsconfig = join(scratch, `tsconfig.${generator.name}.json`);
  await writeFile(
    tsconfig,
    JSON.stringify({
      compilerOptions: {
        strict: true,
        target: 'ES2022',
        ...generator.moduleSettings,
        lib: ['ES2023', 'DOM'],
        types: ['node'],
        typeRoots: [join(repoRoot, 'node_modules', '@types')],
        noEmit: true,
      },
      files: [join(scratch, `${generator.name}.ts`)],
    }),
  );
  const compileStarted = performance.now();
  const compiled = await run(process.execPath, [tsc, '-p', tsconfig, '--strict', '--pretty', 'false'], scratch);
  return { generated, generateMs, compiled, compileMs: Math.round(performance.now() - compileStarted) };
}

/**
 * The default base URL each client takes from openapi.yaml's first server entry. @hey-api/openapi-ts
 * 0.95 leaves out an entry with variables (`{scheme}://{host}:{port}`): no default, only the type.
 */
const defaultBaseUrls: Record<Generator['name'], string | null> = { 'hey-api': null, orval: 'http://127.0.0.1:3000' };
/** A different day for each program, so that their orders never meet. */
const days: Record<Generator['name'], string> = { 'hey-api': '2031-03-03', orval: '2031-03-10' };
const pinned = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as {
  devDependencies: Record<string, string>;
};

for (const generator of generators) {
  t.test(`${generator.name}: generated, compiled under --strict, run against the service`, async (t) => {
    const version = pinned.devDependencies[generator.pkg];
    t.match(version, /^\d+\.\d+\.\d+$/, `${generator.pkg} is pinned to one version (${version})`);
    const result = await prepared.get(generator.name)!;
    t.equal(result.generated.code, 0, `${generator.pkg} generates the client`, { output: result.generated.output });
    if (result.generated.code !== 0 || !result.compiled) return;
    t.equal(result.compiled.code, 0, 'the program compiles under --strict with no errors', {
      tscOutput: result.compiled.output,
    });
    if (result.compiled.code !== 0) return;
    t.comment(`${generator.name}: generated in ${result.generateMs} ms, compiled in ${result.compileMs} ms`);

    const types = await readFile(join(scratch, generator.typesFile), 'utf8');
    t.notMatch(types, /\b(OrderId|Cursor)2\b/, 'no name is made unique with a digit (OrderId2, Cursor2)');
    t.match(types, /\bScheduleConflictProblem\b/, 'the 409 has its own type');

    const at = `${days[generator.name]}T09:00:00.000Z`;
    const conflictAt = `${days[generator.name]}T10:00:00.000Z`;
    let printed: Run | undefined;
    const appended = await eventsAppendedBy(db, async () => {
      printed = await run(process.execPath, ['--import', 'tsx', join(scratch, `${generator.name}.ts`)], repoRoot, {
        ORDERS_URL: url,
        ORDERS_API_KEY: apiKey,
        ORDER_AT: at,
        CONFLICT_AT: conflictAt,
      });
    });
    t.equal(printed!.code, 0, 'the program exits 0', { output: printed!.output });
    const summary = lastJsonLine(printed!.stdout);
    if (!summary) return t.fail('the program prints a JSON summary', { output: printed!.output });

    t.equal(summary.generator, generator.name);
    t.equal(summary.defaultBaseUrl, defaultBaseUrls[generator.name], "the client's default base URL");
    t.equal(summary.created.status, 201, 'create: 201');
    t.match(summary.created.id, /^\d+$/);
    t.match(summary.created.etag, /^"\d+-1"$/, 'create: the ETag of version 1');
    t.same(
      summary.conflict,
      {
        status: 409,
        type: '/problems/schedule-conflict',
        instance: '/orders',
        conflictingOrderId: summary.created.id,
        nearestFreeBefore: `${days[generator.name]}T06:00:00.000Z`,
        nearestFreeAfter: `${days[generator.name]}T12:00:00.000Z`,
      },
      'the 409 read through the typed error: its type, the order in the way and the nearest free times',
    );
    t.equal(summary.replaced.status, 200, 'replace with If-Match: 200');
    t.equal(summary.replaced.totalfee, 150.5, 'replace: the new fee');
    t.match(summary.replaced.etag, /^"\d+-2"$/, 'replace: the ETag of version 2');
    t.same(
      summary.stale,
      { status: 412, type: '/problems/precondition-failed' },
      'the stale ETag is refused: If-Match was sent',
    );
    t.equal(summary.deleted.status, 204, 'delete with If-Match: 204');

    // What the database says happened: one order created, replaced and deleted, the conflict wrote nothing.
    t.same(
      appended.map((e) => [e.type, e.subjectId]),
      [
        ['order.created', summary.created.id],
        ['order.replaced', summary.created.id],
        ['order.deleted', summary.created.id],
      ],
      'the events the program caused',
    );
    t.equal(await countRows(db, 'orders'), 0, 'no order is left');

    // The nearest free times the 409 gave are what GET /availability/nearest says with that order in place.
    const again = await client.POST('/orders', { body: orderBody(at) });
    t.equal(again.response.status, 201);
    const nearest = await client.GET('/availability/nearest', { params: { query: { at: conflictAt } } });
    t.same(
      [nearest.data?.before, nearest.data?.after],
      [summary.conflict.nearestFreeBefore, summary.conflict.nearestFreeAfter],
      'the 409 names the free times the service names',
    );
    await client.DELETE('/orders/{orderId}', { params: { path: { orderId: again.data!.id } } });
  });
}

interface Run {
  code: number | null;
  stdout: string;
  output: string;
}

/** Runs a command to completion (never throws for a non-zero exit), with its stdout and all output. */
function run(command: string, args: string[], cwd = repoRoot, env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...env }, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, output: `${stdout}${stderr}` });
      },
    );
  });
}

function lastJsonLine(stdout: string): Summary | undefined {
  const line = stdout.trim().split('\n').at(-1);
  try {
    return line ? (JSON.parse(line) as Summary) : undefined;
  } catch {
    return undefined;
  }
}
