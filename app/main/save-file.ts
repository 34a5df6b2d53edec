// Writing a file the user chose in a save dialog (an export, a diagnostics report).

import { open } from 'node:fs/promises';

/**
 * Writes `text` to `path`, replacing what is there. A secret (a tunnel's private key) is made 0600
 * before a byte of it is written, also when it replaces a file that others could read.
 */
export async function writeSaved(path: string, text: string, secret: boolean): Promise<void> {
  const file = await open(path, 'w', secret ? 0o600 : 0o644);
  try {
    if (secret) await file.chmod(0o600);
    await file.writeFile(text);
  } finally {
    await file.close();
  }
}
