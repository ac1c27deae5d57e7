import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse } from 'yaml';
import { seedCatalogue } from '../../helpers/fixtures.js';
import { startService } from '../../helpers/service.js';

// The Arazzo workflows in test/workflows/ are the API's main flows as an outside consumer sees them,
// written against openapi.yaml alone. Redocly Respect runs them against the real server; besides each
// step's success criteria it checks every response's status, media type and body against the document.

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const workflowDir = join(repoRoot, 'test', 'workflows');
/** The source description name the workflow files give openapi.yaml; `--server` maps it to the server. */
const sourceName = 'orders';
const redoclyCli = join(dirname(createRequire(import.meta.url).resolve('@redocly/cli/package.json')), 'bin', 'cli.js');

interface RespectCheck {
  name: string;
  passed: boolean;
  message: string;
}
interface RespectStep {
  stepId: string;
  status: string;
  request?: { method: string; url: string };
  response?: { statusCode: number; body?: unknown };
  checks: RespectCheck[];
}
interface RespectWorkflow {
  workflowId: string;
  status: string;
  executedSteps: RespectStep[];
}
interface RespectReport {
  files: Record<string, { executedWorkflows: RespectWorkflow[] }>;
}

const { url, apiKey, db } = await startService(t);
await seedCatalogue(db);
const scratch = await mkdtemp(join(tmpdir(), 'orders-respect-'));
t.teardown(() => rm(scratch, { recursive: true, force: true }));

const files = (await readdir(workflowDir)).filter((name) => name.endsWith('.arazzo.yaml')).sort();
t.ok(files.length > 0, 'test/workflows/ holds Arazzo workflow files');

for (const file of files) {
  t.test(file, async (t) => {
    const path = join(workflowDir, file);
    const declared = (
      (parse(await readFile(path, 'utf8')) as { workflows?: { workflowId: string }[] }).workflows ?? []
    ).map((workflow) => workflow.workflowId);
    const jsonOutput = join(scratch, file.replace(/\.yaml$/, '.json'));
    const run = await respect([
      'respect',
      path,
      '--server',
      `${sourceName}=${url}`,
      '--input',
      `apiKey=${apiKey}`,
      '--json-output',
      jsonOutput,
      '--max-fetch-timeout',
      '10000',
      '--execution-timeout',
      '90000',
    ]);

    const report = await readReport(jsonOutput);
    const executed = report ? Object.values(report.files).flatMap((entry) => entry.executedWorkflows) : [];
    for (const workflowId of declared) {
      const result = executed.find((workflow) => workflow.workflowId === workflowId);
      if (!result) {
        t.fail(`workflow ${workflowId} ran`, { respectOutput: withoutPassedChecks(run.output) });
        continue;
      }
      t.equal(result.status, 'success', `workflow ${workflowId} passes`, { failures: failures(result) });
    }
    t.equal(run.code, 0, `redocly respect ${file} exits 0`, { respectOutput: withoutPassedChecks(run.output) });
  });
}

/** Runs the Redocly CLI without telemetry or update checks; resolves with its exit code and output. */
function respect(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [redoclyCli, ...args], {
      cwd: repoRoot,
      env: {
        ...process.env,
        REDOCLY_TELEMETRY: 'off',
        REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true',
        NO_COLOR: '1',
        FORCE_COLOR: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output: withoutAnsi(output) }));
  });
}

async function readReport(path: string): Promise<RespectReport | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as RespectReport;
  } catch {
    return undefined;
  }
}

/** The failed steps of a workflow, each with its request, response status and body, and failed checks. */
function failures(workflow: RespectWorkflow) {
  return workflow.executedSteps
    .filter((step) => step.status !== 'success')
    .map((step) => ({
      step: step.stepId,
      request: step.request && `${step.request.method.toUpperCase()} ${step.request.url}`,
      status: step.response?.statusCode,
      body: step.response && JSON.stringify(step.response.body)?.slice(0, 1000),
      failedChecks: step.checks.filter((check) => !check.passed).map((check) => `${check.name}: ${check.message}`),
    }));
}

/** Respect's report without blank lines, the lines of checks that passed and the Node.js deprecation banner. */
function withoutPassedChecks(output: string): string {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '' && !/^\s*✓ .* check\b/.test(line) && !/^\s*[╔║╚]/.test(line))
    .join('\n');
}

function withoutAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;]*m/g, '');
}
