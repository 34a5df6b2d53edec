// .github/workflows/desktop.yml cannot run here (it needs the internet); this checks that it parses
// as YAML, pins every action to a commit, and does what the desktop build needs, in order.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';

const require = createRequire(import.meta.url);
const yaml = require('js-yaml') as { load(text: string): unknown };
const FILE = new URL('../../.github/workflows/desktop.yml', import.meta.url);

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Workflow {
  on: Record<string, unknown>;
  permissions: Record<string, string>;
  jobs: Record<string, { 'runs-on': string; env?: Record<string, string>; steps: Step[] }>;
}

const text = readFileSync(FILE, 'utf8');
const workflow = yaml.load(text) as Workflow;
const job = workflow.jobs.linux!;

test('the workflow parses, runs on a hosted Linux runner with read-only permissions', () => {
  assert.match(job['runs-on'], /^ubuntu-\d+\.\d+$/);
  assert.deepEqual(workflow.permissions, { contents: 'read' });
  assert.ok('pull_request' in workflow.on && 'push' in workflow.on);
});

test('every action is pinned to a full commit, its version in a comment', () => {
  const uses = text.split('\n').filter((line) => /^\s*-?\s*uses:/.test(line));
  assert.ok(uses.length >= 3);
  for (const line of uses) assert.match(line, /uses: [\w-]+\/[\w-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/);
});

test('npm ci, the Electron binary, build, the Electron test under Xvfb, npm run dist, release/ uploaded', () => {
  const runs = job.steps.map((step) => step.run ?? step.uses ?? '');
  const at = (pattern: RegExp) => {
    const index = runs.findIndex((run) => pattern.test(run));
    assert.ok(index >= 0, `a step matching ${pattern}`);
    return index;
  };
  const order = [
    at(/^npm ci$/),
    at(/^node node_modules\/electron\/install\.js$/),
    at(/^npm run build$/),
    at(/^xvfb-run .*node --test playwright\/electron\.test\.ts$/),
    at(/^npm run dist$/),
    at(/^actions\/upload-artifact@/),
  ];
  assert.deepEqual(
    order,
    [...order].sort((a, b) => a - b),
  );
  // The download is allowed where it happens, and a skipped Electron test would fail the job.
  const download = job.steps.find((step) => step.run?.includes('electron/install.js'))!;
  assert.equal(download.env?.ELECTRON_SKIP_BINARY_DOWNLOAD ?? '', '');
  assert.equal(job.env?.PHANTOMMESH_ELECTRON_REQUIRED, '1');
  const upload = job.steps.find((step) => step.uses?.startsWith('actions/upload-artifact@'))!;
  assert.match(String(upload.with?.path), /^release\/$/m);
  assert.equal(upload.with?.['if-no-files-found'], 'error');
});
