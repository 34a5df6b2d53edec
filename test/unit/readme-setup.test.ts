// The README's set-up line and scripts/setup.sh (which .ci/run runs) name the same Debian packages,
// so what a newcomer installs by hand is what CI proves enough.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

test('README apt-get line lists exactly the packages scripts/setup.sh installs', () => {
  const readme = /apt-get install -y --no-install-recommends ([^\n`]+)/.exec(read('README.md'));
  assert.ok(readme, 'README has an apt-get install line');
  const setup = /^packages="([^"]+)"/m.exec(read('scripts/setup.sh'));
  assert.ok(setup, 'setup.sh has a packages= list');
  const words = (text: string) => text.trim().split(/\s+/).sort();
  assert.deepEqual(words(readme[1]!), words(setup[1]!));
});

test('.ci/run sets up with scripts/setup.sh and runs the README test command', () => {
  const ci = read('.ci/run');
  assert.match(ci, /^sh scripts\/setup\.sh$/m);
  assert.match(ci, /^npm test\b/m);
  assert.match(read('README.md'), /^sh scripts\/setup\.sh && npm test$/m);
  assert.match(read('README.md'), /^sh scripts\/setup\.sh && npm run demo$/m);
});
