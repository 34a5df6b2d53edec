// Bundles the preload into one CommonJS file, dist/app/preload.cjs: a sandboxed preload is run as a
// script that can require only 'electron' (and a few built-ins), so its imports are inlined here.
// Run with: vite build --config app/preload/vite.config.ts

import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const repo = fileURLToPath(new URL('../..', import.meta.url));

export default defineConfig({
  root: repo,
  // Nothing of the repository's public/ directory belongs in dist/app.
  publicDir: false,
  logLevel: 'warn',
  build: {
    outDir: 'dist/app',
    // dist/app also holds the main process (tsc -p app/tsconfig.build.json).
    emptyOutDir: false,
    target: 'chrome140',
    minify: false,
    sourcemap: false,
    lib: {
      entry: fileURLToPath(new URL('./index.ts', import.meta.url)),
      formats: ['cjs'],
      fileName: () => 'preload.cjs',
    },
    rolldownOptions: { external: ['electron'] },
  },
});
