// The Platform of the browser host (development and tests): no native dialogs, no OS integration.
// Files to save go into a downloads directory; what the desktop would show is logged.

import { open } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { PhantomError } from '../../shared/src/errors.ts';
import type { TransportFileKind } from '../../shared/src/ipc/schema.ts';
import type { Platform } from '../main/platform.ts';

export interface BrowserHostPlatformOptions {
  /** Where app.saveDiagnostics and app.exportTunnel write. */
  downloadsDir: string;
  socketPath: string;
  log: (message: string) => void;
  /**
   * Stands in for the desktop's open dialog of a relay's certificate, key or CA: the path it answers
   * is read by the main-process side like the one Electron's dialog gives. Only a host started in
   * code (the Chromium tests) sets it; without it choosing such a file is not available here, since a
   * browser's own file input would hand the key's contents to the page.
   */
  chooseTransportFile?: (kind: TransportFileKind) => Promise<string | null>;
}

/** `name`, or `name-1`, `name-2`… when taken: a download never replaces a file. */
async function createUnique(dir: string, name: string, text: string): Promise<string> {
  const extension = extname(name);
  const stem = name.slice(0, name.length - extension.length);
  for (let n = 0; ; n++) {
    const path = join(dir, n === 0 ? name : `${stem}-${n}${extension}`);
    try {
      const file = await open(path, 'wx', 0o600);
      try {
        await file.writeFile(text);
      } finally {
        await file.close();
      }
      return path;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

export function browserHostPlatform(options: BrowserHostPlatformOptions): Platform {
  return {
    canFixHelper: false,
    helperHint: `Start it with: sudo npx phantommesh-helper serve --socket ${options.socketPath}`,
    async fixHelper() {
      throw new PhantomError(
        'NOT_SUPPORTED',
        `Starting the helper is not available in the browser host: run sudo npx phantommesh-helper serve --socket ${options.socketPath}`,
      );
    },
    async chooseConfigFile() {
      throw new PhantomError(
        'NOT_AVAILABLE',
        'Opening files is not available in the browser host: drop the file on the window or paste its text.',
      );
    },
    async chooseTransportFile(kind) {
      if (options.chooseTransportFile) return options.chooseTransportFile(kind);
      throw new PhantomError(
        'NOT_AVAILABLE',
        'Choosing certificate and key files is not available in the browser host (the page must never read a private key): use the desktop app, or phantommesh transport NAME URL --client-cert FILE --client-key FILE --ca FILE',
      );
    },
    saveText: (name, text) => createUnique(options.downloadsDir, name, text),
    async openExternal(url) {
      options.log(`would open ${url} in the browser`);
    },
    // Nothing to register: the browser host is not an installed app. The setting is stored as usual.
    async setStartAtLogin() {},
    notify(notification) {
      options.log(`notification: ${notification.title}: ${notification.body}`);
    },
  };
}
