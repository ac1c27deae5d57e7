import t from 'tap';
import { parse } from 'yaml';
import { loadContract } from '../../../src/http/contract.js';
import { startService } from '../../helpers/service.js';

const { api } = await startService(t);
const { text, document } = loadContract();

t.test('the contract is served as written at /openapi.yaml and as JSON at /openapi.json', async (t) => {
  const yaml = await fetch(`${api.url}/openapi.yaml`);
  t.equal(yaml.status, 200);
  t.match(yaml.headers.get('content-type'), /^application\/yaml/);
  t.equal(await yaml.text(), text);

  const json = await fetch(`${api.url}/openapi.json`);
  t.equal(json.status, 200);
  t.match(json.headers.get('content-type'), /^application\/json/);
  t.same(await json.json(), parse(text));
});

t.test('the docs page is served at /docs and reads the same document', async (t) => {
  const page = await fetch(`${api.url}/docs/`, { redirect: 'follow' });
  t.equal(page.status, 200);
  t.match(page.headers.get('content-type'), /text\/html/);
  t.match(await page.text(), /swagger/i);
  const served = await fetch(`${api.url}/docs/json`);
  t.same(
    ((await served.json()) as { paths: unknown }).paths,
    document.paths,
    'the docs page documents every operation of openapi.yaml',
  );
});

interface Operation {
  operationId?: string;
  summary?: string;
  parameters?: unknown[];
  requestBody?: unknown;
  security?: unknown[];
  responses: Record<string, unknown>;
}

t.test('every operation in the contract has an operationId, a summary and declared error responses', async (t) => {
  for (const [path, item] of Object.entries(document.paths)) {
    const pathParameters = (item as { parameters?: unknown[] }).parameters ?? [];
    for (const [method, operation] of Object.entries(item as Record<string, Operation>)) {
      if (method === 'parameters') continue;
      const label = `${method} ${path}`;
      t.ok(operation.operationId, `${label} has an operationId`);
      t.ok(operation.summary, `${label} has a summary`);
      t.ok(operation.responses['500'], `${label} declares 500`);
      if (pathParameters.length > 0 || operation.parameters?.length || operation.requestBody) {
        t.ok(operation.responses['400'], `${label} takes input, so declares 400`);
      }
      if (operation.security?.length) {
        for (const status of ['401', '403', '429'])
          t.ok(operation.responses[status], `${label} needs a key, so declares ${status}`);
      }
    }
  }
});
