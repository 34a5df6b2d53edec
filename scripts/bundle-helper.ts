// The helper as it is shipped: the compiled dist/ bundled by rolldown. Used by the Linux package
// (scripts/package-linux.ts) and by `npm run bench:service`, which measures what the package runs.

import { join, resolve } from 'node:path';
import { build } from 'rolldown';

const root = resolve(import.meta.dirname, '..');

/**
 * The compiled helper as bundles (rolldown), koffi left out (a native module, copied as it is):
 * start-up then reads about ten files instead of ~260 ES modules (95 of them zod's), which measured
 * ~10 MB less RSS and ~100 ms less to READY (docs/performance.md). Two module graphs, one per
 * thread: the main thread's (the three programs) and the writer thread's (writer-worker and the
 * handlers it loads by path). Every file goes into one directory, so the paths siblingModule()
 * computes from a bundle's own URL (the writer thread, its handlers) hold as they did unbundled.
 */
export async function bundleHelper(out: string): Promise<void> {
  const built = (path: string) => join(root, 'dist/helper/src', path);
  const graphs: Array<{ input: Record<string, string>; chunks: string }> = [
    {
      input: {
        'phantommesh-helper': built('cli/phantommesh-helper.js'),
        phantommesh: built('cli/phantommesh.js'),
        'phantommesh-relay': built('cli/phantommesh-relay.js'),
      },
      chunks: 'main-[name]-[hash].js',
    },
    {
      input: {
        'writer-worker': built('datapath/writer-worker.js'),
        'udp-sender_linux': built('conn/udp-sender_linux.js'),
        'tun-writer_linux': built('tun/tun-writer_linux.js'),
      },
      chunks: 'writer-[name]-[hash].js',
    },
  ];
  for (const { input, chunks } of graphs) {
    await build({
      input,
      external: ['koffi'],
      platform: 'node',
      logLevel: 'warn',
      output: { dir: out, format: 'esm', entryFileNames: '[name].js', chunkFileNames: chunks },
    });
  }
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
