// ESLint guards the shape of the code (/work/shared/CONVENTIONS.md, "A layout that shows it"):
//   1. no import cycles between files, and a one-way folder graph of src/ (each folder lists what it may import);
//   2. inside a feature: routes -> service -> queries, and each file keeps to its own layer;
//   3. src/http/ is generic and imports no feature;
//   4. generated/ is imported only as types;
//   5. typescript-eslint's recommended rules on src/, test/, bench/ and migrations/; unit tests stay database-free.
// Formatting, line length included, is Prettier's business (prettier.config.js), never ESLint's.
import js from '@eslint/js';
import boundaries from 'eslint-plugin-boundaries';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** The features: folders of src/ with one shape (model, queries, service, routes, plugin). */
const FEATURES = ['orders', 'availability', 'catalogue', 'keys', 'idempotency', 'health', 'events'];
/**
 * The features other features may import, and which: orders and the catalogue replay responses through
 * idempotency/; orders' schedule conflicts name the nearest free times through availability/. Neither
 * imports another feature, so the graph stays acyclic.
 */
const CONSULTED_FEATURES = { idempotency: ['orders', 'catalogue'], availability: ['orders'] };
const consultedBy = (feature) =>
  Object.entries(CONSULTED_FEATURES).flatMap(([consulted, users]) => (users.includes(feature) ? [consulted] : []));
const tsconfig = `${import.meta.dirname}/tsconfig.json`;
const inFeatures = (file) => FEATURES.map((feature) => `src/${feature}/${file}`);

// -------------------------------------------------------------------------------------------------------------
// Rule 1: the folder graph of src/ (eslint-plugin-boundaries). Each file gets one category, its node in the
// graph; an import from one node to another is refused unless the list below allows it. Every list points
// down this order only, so the graph is acyclic by construction:
//   refusal.ts, config.ts, generated/ (types)  <-  db/  <-  http/  <-  idempotency/, availability/
//   <-  orders/, catalogue/, keys/, health/  <-  plugins/external/  <-  plugins/app/  <-  app.ts
//   <-  server.ts, cluster.ts, log-destination.ts (the process)  <-  cli/
// client.ts (the consumers' typed client) uses generated/ only. Imports within one node are free; import-x's
// no-cycle catches file-level cycles there.
// -------------------------------------------------------------------------------------------------------------
const nodes = [
  { category: 'entry', pattern: ['src/server.ts', 'src/cluster.ts', 'src/log-destination.ts'] },
  { category: 'cli', pattern: 'src/cli/**' },
  { category: 'app', pattern: 'src/app.ts' },
  { category: 'plugins-app', pattern: 'src/plugins/app/**' },
  { category: 'plugins-external', pattern: 'src/plugins/external/**' },
  ...FEATURES.map((feature) => ({ category: feature, pattern: `src/${feature}/**` })),
  { category: 'http', pattern: 'src/http/**' },
  { category: 'db', pattern: 'src/db/**' },
  { category: 'config', pattern: 'src/config.ts' },
  { category: 'refusal', pattern: 'src/refusal.ts' },
  { category: 'client', pattern: 'src/client.ts' },
  { category: 'ambient', pattern: 'src/types/*.d.ts' }, // `declare module` files: never imported
  { category: 'generated', pattern: 'generated/*.d.ts' },
  { category: 'tests', pattern: ['test/**', 'bench/**'] }, // known, so that src/ importing them is refused
];

const leaves = ['refusal', 'config'];
const plugins = ['plugins-app', 'plugins-external'];
const belowPlugins = [...FEATURES, 'http', 'db', 'generated', 'client', ...leaves];
/** [node, what it may import besides itself, the sentence a newcomer reads when an import is refused]. */
const folderGraph = [
  ['refusal', [], 'refusal.ts is the bottom of the graph: it imports nothing from src/.'],
  ['config', [], 'config.ts is the bottom of the graph: it imports nothing from src/.'],
  [
    'client',
    ['generated'],
    'client.ts is the consumers’ typed client: it uses generated/ types, nothing of the service.',
  ],
  [
    'db',
    leaves,
    'db/ is database access only: it may use refusal.ts and config.ts, never http/, a feature, plugins/ or app.ts.',
  ],
  [
    'http',
    ['db', 'generated', ...leaves], // generated/: problem bodies and operations are typed from the contract
    'http/ is generic HTTP and imports no feature, plugins/, app.ts or server.ts: take what it needs as a parameter.',
  ],
  ...FEATURES.map((feature) => {
    const extra = consultedBy(feature);
    return [
      feature,
      ['http', 'db', 'generated', ...leaves, ...extra],
      `A feature (${feature}/) may use http/, db/, refusal.ts, config.ts, generated/${extra.map((f) => ` and ${f}/`).join('')}` +
        ': never another feature, plugins/, app.ts or server.ts (app.ts wires the features together).',
    ];
  }),
  [
    'plugins-external',
    belowPlugins,
    'plugins/external/ may use features, http/, db/, refusal.ts, config.ts, never plugins/app/, app.ts, server.ts or cli/.',
  ],
  [
    'plugins-app',
    ['plugins-external', ...belowPlugins],
    'plugins/ may use features, http/, db/, refusal.ts, config.ts, never app.ts, server.ts, cluster.ts or cli/ (they build on plugins).',
  ],
  [
    'app',
    [...plugins, ...FEATURES, 'http', 'db', 'generated', 'config'],
    'app.ts assembles plugins, features, http/, db/ and config.ts: it never imports server.ts, cluster.ts or cli/.',
  ],
  [
    'entry',
    ['app', ...plugins, ...belowPlugins],
    'server.ts and cluster.ts may import anything in src/ but cli/ (which sits above them), and never a test.',
  ],
  ['cli', ['entry', 'app', ...plugins, ...belowPlugins], 'cli/ may import anything in src/, but never a test.'],
];

const folderRules = {
  name: 'shape/folder graph of src',
  files: ['src/**/*.ts'],
  plugins: { boundaries },
  settings: {
    'boundaries/files': nodes,
    'boundaries/include': ['src/**/*.ts', 'generated/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    'boundaries/root-path': import.meta.dirname,
    'boundaries/dependency-nodes': ['import', 'export', 'dynamic-import'], // re-exports and import() count too
    'import/resolver': { typescript: { project: tsconfig } },
  },
  rules: {
    'boundaries/dependencies': [
      'error',
      {
        default: 'disallow',
        // Policies are read in order and the last match decides: each node refuses everything with its own
        // sentence, then allows itself and its list.
        policies: folderGraph.flatMap(([from, allowed, message]) => [
          { from: { file: { categories: from } }, disallow: { to: { file: { categories: '*' } } }, message },
          { from: { file: { categories: from } }, allow: { to: { file: { categories: [from, ...allowed] } } } },
        ]),
      },
    ],
    'shape/no-unknown-files': 'error',
  },
};

// -------------------------------------------------------------------------------------------------------------
// Rules 2, 4 and 5: import restrictions per kind of file (@typescript-eslint/no-restricted-imports, which can
// allow `import type`). ESLint replaces, never merges, a rule's options when several blocks match one file, so
// each block lists every restriction that applies to its files.
// -------------------------------------------------------------------------------------------------------------
const relative = '^(\\.{1,2}/)+';
const generatedTypesOnly = {
  regex: `${relative}generated/`,
  allowTypeImports: true,
  message: 'generated/ holds the types openapi-typescript made from openapi.yaml: import it with `import type`.',
};
const noFastify = (message) => ({ regex: '^(fastify($|[/-])|@fastify/)', message });
const noHttp = (message) => ({ regex: `${relative}(src/)?http/`, message });
const noSql = (message) => ({ regex: '^(kysely|pg)($|[/-])', message });
const restrict = (name, files, ...patterns) => ({
  name: `shape/${name}`,
  files,
  rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: [generatedTypesOnly, ...patterns] }] },
});

const importRestrictions = [
  restrict('generated is types only', ['**/*.ts']),
  restrict(
    'db knows no HTTP',
    ['src/db/**/*.ts'],
    noFastify('db/ is database access and knows no HTTP: the Fastify part belongs in http/ or a plugin.'),
  ),
  restrict(
    'feature queries',
    inFeatures('queries.ts'),
    noFastify('Queries never know HTTP: move the Fastify part to routes.ts and pass plain values down.'),
    noHttp('Queries never know HTTP: move the src/http/ part to routes.ts and pass plain values down.'),
  ),
  restrict(
    'feature routes',
    inFeatures('routes.ts'),
    noSql('Routes never build SQL: call the feature’s service.ts, which owns the transaction and calls queries.ts.'),
    {
      regex: '(^|/)queries(\\.[jt]s)?$',
      message: 'Routes never call queries directly (routes -> service -> queries): go through service.ts.',
    },
  ),
  restrict(
    'feature model',
    inFeatures('model.ts'),
    noFastify('The model is plain domain types and errors: it knows no Fastify (that belongs in routes.ts).'),
    noSql('The model is plain domain types and errors: it knows no database (that belongs in queries.ts).'),
    noHttp('The model is plain domain types and errors: it knows no src/http/ (that belongs in routes.ts).'),
  ),
  restrict(
    'unit tests are database-free',
    ['test/unit/**/*.ts'],
    {
      regex: '^(pg|kysely-pglite-dialect|@electric-sql/pglite)($|/)',
      message: 'Unit tests are database-free: a test that needs a database driver belongs in test/api/.',
    },
    {
      regex: '^kysely$',
      importNamePattern: '^(?!Dummy).*(Dialect|Driver)$', // DummyDriver compiles queries without a database
      message: 'Unit tests are database-free: a test that needs a Kysely dialect belongs in test/api/.',
    },
    {
      regex: '(^|/)src/db/database(\\.[jt]s)?$',
      message: 'Unit tests are database-free: a test that opens the database belongs in test/api/.',
    },
  ),
];

// -------------------------------------------------------------------------------------------------------------
// Two rules whose reports cannot be worded by configuration, re-worded: the rule runs unchanged and each
// report leads with a sentence that says which boundary it guards, then the rule's own text.
// -------------------------------------------------------------------------------------------------------------
function reworded(rule, sentence) {
  return {
    ...rule,
    create(context) {
      const report = (descriptor) => {
        const template = descriptor.message ?? rule.meta?.messages?.[descriptor.messageId] ?? '';
        const detail = template.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, key) => String(descriptor.data?.[key] ?? ''));
        const { messageId: _id, data: _data, ...rest } = descriptor;
        context.report({ ...rest, message: `${sentence} (${detail})` });
      };
      // ESLint freezes the context: a child object that inherits everything but report.
      return rule.create(Object.create(context, { report: { value: report } }));
    },
  };
}
const shape = {
  meta: { name: 'shape' },
  rules: {
    'no-cycle': reworded(
      importX.rules['no-cycle'],
      'Import cycle: these modules import each other, so neither can load first; move what they share into a module both import',
    ),
    'no-unknown-files': reworded(
      boundaries.rules['no-unknown-files'],
      'Every file in src/ belongs to a node of the folder graph: add its folder to eslint.config.js (and say what it may import) or move it',
    ),
  },
};

export default defineConfig([
  globalIgnores(['dist/', 'coverage/', '.tap/', '.data/', 'bench/results/', 'bench/.data/', 'generated/']),
  {
    name: 'shape/base',
    files: ['**/*.ts', '**/*.js'],
    extends: [js.configs.recommended, tseslint.configs.recommended],
    plugins: { shape },
    settings: {
      // import-x parses each imported module to follow a chain: with TypeScript's parser, resolving `./x.js` to
      // `./x.ts` the way tsc (NodeNext) does.
      'import-x/extensions': importX.flatConfigs.typescript.settings['import-x/extensions'],
      'import-x/parsers': importX.flatConfigs.typescript.settings['import-x/parsers'],
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: tsconfig })],
    },
    rules: {
      'shape/no-cycle': ['error', { ignoreExternal: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  ...importRestrictions,
  folderRules,
  {
    name: 'shape/tests may use any',
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'warn' },
  },
]);
