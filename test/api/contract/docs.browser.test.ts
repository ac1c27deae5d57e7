import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import t from 'tap';
import { loadContract } from '../../../src/http/contract.js';
import { seedCatalogue } from '../../helpers/fixtures.js';
import { startService } from '../../helpers/service.js';

/** Debian's chromium (`apt-get install -y chromium`; scripts/ensure-chromium.sh); playwright-core downloads no browser. */
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const screenshotPath = fileURLToPath(new URL('../../../test-results/docs.png', import.meta.url));
/** Generous, so a loaded machine running both suites at once does not make this flaky. */
const timeout = 30_000;

interface Operation {
  operationId: string;
  tag: string;
  method: string;
  path: string;
  summary: string;
}

function contractOperations(): Operation[] {
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries(loadContract().document.paths)) {
    for (const [method, value] of Object.entries(item as Record<string, unknown>)) {
      if (method === 'parameters') continue;
      const operation = value as { operationId: string; tags: string[]; summary: string };
      operations.push({
        operationId: operation.operationId,
        tag: operation.tags[0]!,
        method,
        path,
        summary: operation.summary,
      });
    }
  }
  return operations;
}

/** The id Swagger UI gives an operation's element (the tags and operationIds here need no escaping). */
function operationBlockId(operation: Pick<Operation, 'tag' | 'operationId'>): string {
  return `operations-${operation.tag}-${operation.operationId}`;
}

function operationBlock(page: Page, operation: Pick<Operation, 'tag' | 'operationId'>) {
  return page.locator(`#${operationBlockId(operation)}`);
}

if (process.env.SKIP_BROWSER === '1') {
  // A plan of 0 with a reason: tap reports the file as skipped, with the reason, never as passed.
  t.plan(0, 'SKIP_BROWSER=1: the /docs page was NOT tested in a browser');
} else if (!existsSync(chromiumPath)) {
  t.fail(
    `${chromiumPath} is missing, so the docs page cannot be tested in a browser: install it with \`apt-get install -y chromium\` (or SKIP_BROWSER=1 to skip)`,
  );
} else {
  const { url, apiKey, db } = await startService(t);
  await seedCatalogue(db);

  const browser: Browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(timeout);

  // Everything the page reports as an error, CSP violations included (Chromium logs those to the
  // console too; the listener also catches any it might not).
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) =>
    problems.push(`request failed: ${request.url()} (${request.failure()?.errorText})`),
  );
  await page.addInitScript({
    content: `document.addEventListener('securitypolicyviolation', (e) =>
      console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline')));`,
  });

  await page.goto(`${url}/docs`);
  // Swagger UI renders every operation's summary row at once, when the document has loaded.
  await page.locator('.swagger-ui .opblock').first().waitFor();

  t.test('the docs page shows every operation of openapi.yaml, and no other', async (t) => {
    t.match(await page.locator('.swagger-ui .information-container .title').innerText(), /Orders service/);
    const operations = contractOperations();
    const onPage = await Promise.all(
      (await page.locator('.swagger-ui .opblock').all()).map((block) => block.getAttribute('id')),
    );
    t.same(onPage.sort(), operations.map(operationBlockId).sort(), 'one block per operation of the contract');
    for (const operation of operations) {
      const summary = page.locator(`#${operationBlockId(operation)} .opblock-summary`);
      if ((await summary.count()) === 0) continue;
      const label = `${operation.operationId} (${operation.method.toUpperCase()} ${operation.path})`;
      t.ok(await summary.isVisible(), `${label} is visible`);
      t.equal(
        (await summary.locator('.opblock-summary-method').innerText()).toLowerCase(),
        operation.method,
        `${label}: method`,
      );
      t.equal(
        await summary.locator('.opblock-summary-path').getAttribute('data-path'),
        operation.path,
        `${label}: path`,
      );
      t.equal(
        await summary.locator('.opblock-summary-description').innerText(),
        operation.summary,
        `${label}: summary`,
      );
      t.equal(
        await summary.locator('.opblock-summary-operation-id').innerText(),
        operation.operationId,
        `${label}: operationId shown`,
      );
    }
  });

  t.test('an operation shows the examples of openapi.yaml', async (t) => {
    const createOrder = operationBlock(page, { tag: 'orders', operationId: 'createOrder' });
    await createOrder.locator('.opblock-summary-control').click();
    const requestBody = createOrder.locator('.opblock-section-request-body');
    await requestBody.waitFor();
    t.match(await requestBody.innerText(), /An order for one service/, 'the named request example is offered');
    const body = JSON.parse(await requestBody.locator('textarea.body-param__text').inputValue());
    t.same(
      body,
      { datetime: '2022-11-02T09:00:00.000Z', totalfee: 100, services: [{ id: 123 }] },
      'the request body is prefilled with it',
    );
    const created = createOrder.locator('.responses-table tr.response[data-code="201"]');
    await created.waitFor();
    t.match(await created.innerText(), /"totalfee": 100/, 'the 201 response shows an example order');
  });

  t.test('"Try it out" calls the running service with the API key entered in Authorize', async (t) => {
    await page.locator('.swagger-ui .auth-wrapper .btn.authorize').click();
    const dialog = page.locator('.swagger-ui .dialog-ux .modal-ux');
    await dialog.locator('input[aria-label="auth-bearer-value"]').fill(apiKey);
    await dialog.locator('button.btn.modal-btn.auth.authorize').click();
    await dialog.locator('button.btn.modal-btn.auth', { hasText: 'Logout' }).waitFor();
    await dialog.locator('button.btn-done').click();
    await dialog.waitFor({ state: 'detached' });

    const listServices = operationBlock(page, { tag: 'services', operationId: 'listServices' });
    await listServices.locator('.opblock-summary-control').click();
    const tryItOut = listServices.locator('button.try-out__btn');
    // tryItOutEnabled opens the form at once (the button then reads "Cancel"); click it otherwise.
    if ((await tryItOut.innerText()).trim() === 'Try it out') await tryItOut.click();
    const [response] = await Promise.all([
      page.waitForResponse((response) => new URL(response.url()).pathname === '/services'),
      listServices.locator('button.execute').click(),
    ]);
    t.equal(response.request().headers().authorization, `Bearer ${apiKey}`, 'the request carries the key');
    t.equal(response.status(), 200, 'the service answers 200');

    const live = listServices.locator('.live-responses-table tr.response');
    await live.waitFor();
    t.equal((await live.locator('.response-col_status').innerText()).trim(), '200', 'the page shows the live status');
    t.match(await live.locator('.response-col_description').innerText(), /"name": "Inspection"/, 'and the live body');
  });

  t.test('the page reports no console errors and no CSP violations', async (t) => {
    await mkdir(dirname(screenshotPath), { recursive: true });
    await page.screenshot({ path: screenshotPath, fullPage: true });
    t.same(problems, [], 'no errors');
  });
}
