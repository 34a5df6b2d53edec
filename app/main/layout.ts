// Where the app's files are, in development (the repository) and packaged (app.asar plus the
// extraResources of electron-builder.yml).

import { join } from 'node:path';

export interface AppLayout {
  /** The built renderer: `vite build` of app/renderer. */
  rendererDir: string;
  /** The bundled preload (CommonJS: a sandboxed preload cannot import files). */
  preloadPath: string;
  /** Tray icons; outside the asar when packaged, because AppIndicator reads them by path. */
  iconsDir: string;
}

export function appLayout(appPath: string, resourcesPath: string, isPackaged: boolean): AppLayout {
  return {
    rendererDir: join(appPath, 'dist', 'renderer'),
    preloadPath: join(appPath, 'dist', 'app', 'preload.cjs'),
    iconsDir: isPackaged ? join(resourcesPath, 'icons') : join(appPath, 'resources', 'icons'),
  };
}
