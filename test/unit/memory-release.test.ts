// releaseFreedMemory() through the real glibc: memory the helper has freed, which malloc keeps in its
// heap for reuse, goes back to the system. A child Node (for --expose-gc) frees 25 MB of 64 KB buffers
// held below one that stays, so that free() alone cannot shrink the heap, and reads its own RSS.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import test from 'node:test';

const MODULE = new URL('../../helper/src/service/memory-release.ts', import.meta.url).href;

const CHILD = `
import { readFileSync } from 'node:fs';
const { releaseFreedMemory } = await import(${JSON.stringify(MODULE)});
const rss = () => Number(/VmRSS:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
let blocks = [];
for (let i = 0; i < 400; i++) blocks.push(Buffer.alloc(64 * 1024, 1));
const keep = Buffer.alloc(64 * 1024, 1);
blocks = null;
globalThis.gc();
globalThis.gc();
await new Promise((resolve) => setTimeout(resolve, 200));
const freed = rss();
releaseFreedMemory();
console.log(JSON.stringify({ freed, after: rss(), kept: keep.length }));
`;

test(
  'on Linux, freed heap memory that free() could not return goes back to the system',
  { skip: process.platform !== 'linux' && 'Linux only' },
  () => {
    const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', CHILD], {
      encoding: 'utf8',
    });
    const { freed, after } = JSON.parse(out) as { freed: number; after: number };
    assert.ok(freed - after > 15, `RSS ${freed.toFixed(1)} -> ${after.toFixed(1)} MB after releasing 25 MB`);
  },
);

test('on an OS without an implementation (process.platform faked as darwin) it says so', async () => {
  const { releaseFreedMemory } = await import('../../helper/src/service/memory-release.ts');
  const platform = Object.getOwnPropertyDescriptor(process, 'platform')!;
  Object.defineProperty(process, 'platform', { ...platform, value: 'darwin' });
  try {
    assert.throws(
      () => releaseFreedMemory(),
      /returning freed memory to the system is not supported on this OS yet/,
    );
  } finally {
    Object.defineProperty(process, 'platform', platform);
  }
});
