// The CI workflows for hosted runners (desktop, macOS, Windows) never run here, so each is checked
// against GitHub's workflow schema with action-validator (@action-validator/core, the schema
// validator compiled to WebAssembly), and a broken one is shown to fail the check.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { validateWorkflow } from '@action-validator/core';

const dir = join(import.meta.dirname, '../../.github/workflows');
const workflows = readdirSync(dir).filter((file) => file.endsWith('.yml'));

test('the workflows are the three the README names', () => {
  assert.deepEqual(workflows.sort(), ['desktop.yml', 'macos.yml', 'windows.yml']);
});

for (const file of workflows) {
  test(`${file} is a valid GitHub Actions workflow`, () => {
    const { errors } = validateWorkflow(readFileSync(join(dir, file), 'utf8'));
    assert.deepEqual(errors, [], JSON.stringify(errors, null, 2));
  });
}

test('the validator refuses a broken workflow (so a pass means something)', () => {
  const broken = 'on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    stepz: []\n';
  assert.ok(validateWorkflow(broken).errors.length > 0);
});
