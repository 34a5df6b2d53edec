// The helper as the package ships it (scripts/bundle-helper.ts over the built dist/): each chunk's
// source stays in the V8 heap while the helper runs, as one byte per character only while every
// character is Latin-1. One em dash or check mark makes V8 keep the whole chunk as UTF-16, twice
// its size (docs/performance.md).

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { bundleHelper } from '../../scripts/bundle-helper.ts';
import { skipOutsideCi } from '../lib/netns.ts';

const BUILT = new URL('../../dist/helper/src/cli/phantommesh-helper.js', import.meta.url).pathname;

test(
  'every chunk of the shipped helper bundle is Latin-1, and JSDoc is left out',
  { skip: skipOutsideCi(!existsSync(BUILT) && 'no dist/ (npm run build)') },
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pm-bundle-'));
    try {
      await bundleHelper(dir);
      const chunks = (await readdir(dir)).filter((name) => name.endsWith('.js'));
      assert.ok(chunks.includes('phantommesh-helper.js'));
      for (const chunk of chunks) {
        const source = await readFile(join(dir, chunk), 'utf8');
        const wide = [...new Set([...source].filter((character) => character.codePointAt(0)! > 0xff))];
        assert.deepEqual(wide, [], `${chunk}: characters past Latin-1`);
        assert.equal(/\/\*\*\s/.test(source), false, `${chunk}: a JSDoc comment`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);
