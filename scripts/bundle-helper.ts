// The helper as it is shipped: the compiled dist/ bundled by rolldown. Used by the Linux package
// (scripts/package-linux.ts) and by `npm run bench:service`, which measures what the package runs.

import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { build } from 'rolldown';

const root = resolve(import.meta.dirname, '..');

/**
 * The compiled helper as bundles (rolldown), koffi left out (a native module, copied as it is):
 * start-up then reads about ten files instead of ~260 ES modules (95 of them zod's), which measured
 * ~10 MB less RSS and ~100 ms less to READY (docs/performance.md). What the helper loads only when
 * it needs it (each mode's code, the tunnel code, relays) stays in chunks of its own.
 */
export async function bundleHelper(out: string): Promise<void> {
  const built = (path: string) => join(root, 'dist/helper/src', path);
  await rm(out, { recursive: true, force: true });
  await build({
    input: {
      'phantommesh-helper': built('cli/phantommesh-helper.js'),
      phantommesh: built('cli/phantommesh.js'),
      'phantommesh-relay': built('cli/phantommesh-relay.js'),
    },
    external: ['koffi'],
    platform: 'node',
    logLevel: 'warn',
    output: {
      dir: out,
      format: 'esm',
      entryFileNames: '[name].js',
      chunkFileNames: 'main-[name]-[hash].js',
      // Licences stay; JSDoc goes. Each chunk's source stays in the V8 heap while it runs, and one
      // character past Latin-1 (an em dash in a dependency's JSDoc) stores a chunk as UTF-16, twice
      // its size (docs/performance.md).
      comments: { legal: true, annotation: false, jsdoc: false },
    },
  });
}

/**
 * dist/ bundled into dist/helper-bundle/ (inside the repository, so that the bundle's one outside
 * import, koffi, resolves to node_modules): the helper entry point the benchmarks run "as shipped".
 */
export async function shippedHelper(): Promise<string> {
  const dir = join(root, 'dist/helper-bundle');
  await bundleHelper(dir);
  return join(dir, 'phantommesh-helper.js');
}
