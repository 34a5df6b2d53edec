// Saved exports: a full backup (with its private key) is readable by its owner only, also when it
// replaces a file that others could read.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeSaved } from '../../app/main/save-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'phantommesh-save-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const mode = (path: string) => statSync(path).mode & 0o777;

test('a secret is 0600, new or replacing a readable file', async () => {
  const fresh = join(dir, 'fresh.conf');
  await writeSaved(fresh, 'PrivateKey = x\n', true);
  assert.equal(mode(fresh), 0o600);
  assert.equal(readFileSync(fresh, 'utf8'), 'PrivateKey = x\n');

  const replaced = join(dir, 'replaced.conf');
  writeFileSync(replaced, 'old text that was longer\n', { mode: 0o644 });
  await writeSaved(replaced, 'PrivateKey = y\n', true);
  assert.equal(mode(replaced), 0o600);
  assert.equal(readFileSync(replaced, 'utf8'), 'PrivateKey = y\n');
});

test('a file without secrets is written as an ordinary file', async () => {
  const path = join(dir, 'public.conf');
  await writeSaved(path, '[Interface]\n', false);
  assert.equal(readFileSync(path, 'utf8'), '[Interface]\n');
  assert.equal(mode(path) & 0o600, 0o600);
});
