// Builds the sandboxed renderer into dist/renderer. `base: './'` makes every asset URL relative, so
// the same build loads from file:// in Electron and over http in the browser host.

import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: './',
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../../dist/renderer', import.meta.url)),
    emptyOutDir: true,
    // Chromium has modulepreload; the polyfill would only add code.
    modulePreload: { polyfill: false },
    target: 'chrome120',
  },
});
