// What the renderer's world holds: `window.phantommesh`, set by the preload in Electron and by the
// browser host's injected script. Nothing from Node is declared here on purpose.

import type { PhantomMeshApi } from '../../../shared/src/ipc/schema.ts';

declare global {
  interface Window {
    /** Absent only for a moment while the browser host's script loads. */
    phantommesh?: PhantomMeshApi;
  }

  // shared/src/errors.ts names `process.platform` in a default parameter that only the helper
  // reaches; the parser the renderer imports never evaluates it.
  const process: { readonly platform: string };
}

declare module '*.css';
