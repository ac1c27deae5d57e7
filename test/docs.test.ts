import t from 'tap';
import { parse } from 'yaml';
import { loadContract } from '../src/contract.js';
import { startService } from './helper.js';

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
  t.same(((await served.json()) as { paths: unknown }).paths, document.paths, 'the docs page documents every operation of openapi.yaml');
});

t.test('every operation in the contract has an operationId, a summary and declared error responses', async (t) => {
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item as Record<string, { operationId?: string; summary?: string; responses: Record<string, unknown> }>)) {
      if (method === 'parameters') continue;
      t.ok(operation.operationId, `${method} ${path} has an operationId`);
      t.ok(operation.summary, `${method} ${path} has a summary`);
      t.ok(operation.responses['500'] && operation.responses['400'], `${method} ${path} declares 400 and 500`);
    }
  }
});
