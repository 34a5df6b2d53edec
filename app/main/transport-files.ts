// The relay's TLS files (client certificate, client key, CA) between the moment the user picks one and
// the moment it goes to the helper. The renderer must never see a private key, so the main process
// reads the file as the user and keeps it here under a random token; the renderer holds only the
// token and the file's name, and transport.set hands the token back to be swapped for the contents.
// A token is good for one use, for its own kind of file, and for a few minutes: what a compromised
// renderer could do with one is send the same file to the helper, which is what the user chose anyway.

import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { MAX_PEM_TEXT } from '../../shared/src/control/protocol.ts';
import { PhantomError } from '../../shared/src/errors.ts';
import type { TransportFileKind } from '../../shared/src/ipc/schema.ts';

/** What the helper accepts for one PEM file (PemText in the control protocol). */
export const MAX_PEM_BYTES = MAX_PEM_TEXT;
/** How long a picked file waits for the transport.set that uses it. */
export const FILE_TOKEN_LIFETIME_MS = 10 * 60 * 1000;
/** Picks beyond this forget the oldest: a renderer cannot make main hold files without bound. */
const MAX_HELD = 16;

const WHAT: Record<TransportFileKind, string> = {
  clientCert: 'client certificate',
  clientKey: 'client key',
  ca: 'CA certificate',
};

interface Held {
  kind: TransportFileKind;
  /** A Buffer rather than a string, so that it can be overwritten when it is used or expires. */
  contents: Buffer;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Reads a file the user picked: a regular file of at most MAX_PEM_BYTES that holds PEM. Checked on
 * the open descriptor (not the path), and read no further than the bound, so /dev/zero or a file
 * that grows cannot make the app read without end.
 */
export async function readPemFile(path: string, kind: TransportFileKind): Promise<Buffer> {
  const name = basename(path);
  const file = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    const why =
      error.code === 'ENOENT'
        ? 'no such file'
        : error.code === 'EACCES'
          ? 'permission denied'
          : error.message;
    throw new PhantomError('FILE_UNREADABLE', `cannot read ${name}: ${why}`);
  });
  try {
    const stat = await file.stat();
    if (!stat.isFile()) throw new PhantomError('FILE_UNREADABLE', `${name} is not a regular file`);
    if (stat.size > MAX_PEM_BYTES)
      throw new PhantomError(
        'FILE_TOO_LARGE',
        `${name} is ${stat.size} bytes; a ${WHAT[kind]} file is at most ${MAX_PEM_BYTES}`,
      );
    const buffer = Buffer.alloc(MAX_PEM_BYTES + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await file.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > MAX_PEM_BYTES) {
      buffer.fill(0);
      throw new PhantomError(
        'FILE_TOO_LARGE',
        `${name}: a ${WHAT[kind]} file is at most ${MAX_PEM_BYTES} bytes`,
      );
    }
    const contents = Buffer.from(buffer.subarray(0, length));
    buffer.fill(0);
    if (!contents.includes('-----BEGIN ')) {
      contents.fill(0);
      throw new PhantomError(
        'FILE_NOT_PEM',
        `${name} is not a PEM file (-----BEGIN …-----): choose the ${WHAT[kind]} in PEM format`,
      );
    }
    return contents;
  } finally {
    await file.close();
  }
}

export class TransportFiles {
  private readonly held = new Map<string, Held>();
  private readonly lifetimeMs: number;

  constructor(lifetimeMs = FILE_TOKEN_LIFETIME_MS) {
    this.lifetimeMs = lifetimeMs;
  }

  /** Keeps `contents` (taken over: wiped when used or expired); returns its token. */
  hold(kind: TransportFileKind, contents: Buffer): string {
    while (this.held.size >= MAX_HELD) this.forget(this.held.keys().next().value!);
    const token = randomBytes(32).toString('base64url');
    const timer = setTimeout(() => this.forget(token), this.lifetimeMs);
    // A pending expiry must not keep the browser host (or a test) alive.
    timer.unref?.();
    this.held.set(token, { kind, contents, timer });
    return token;
  }

  /**
   * The files held under these tokens as text, each forgotten at once: one token, one use. A token that
   * is unknown, expired, used or for another kind of file is refused, and then none is taken, so the
   * user re-picks only that one.
   */
  takeAll<K extends string>(
    wanted: Partial<Record<K, { token: string; kind: TransportFileKind }>>,
  ): Partial<Record<K, string>> {
    const entries = Object.entries(wanted) as Array<[K, { token: string; kind: TransportFileKind }]>;
    for (const [, { token, kind }] of entries) this.check(token, kind);
    const taken: Partial<Record<K, string>> = {};
    for (const [key, { token }] of entries) {
      const held = this.held.get(token)!;
      taken[key] = held.contents.toString('utf8');
      this.forget(token);
    }
    return taken;
  }

  private check(token: string, kind: TransportFileKind): void {
    const held = this.held.get(token);
    if (!held || held.kind !== kind)
      throw new PhantomError(
        'FILE_TOKEN_UNKNOWN',
        `the chosen ${WHAT[kind]} file is no longer held by the app (it is kept for ${Math.round(this.lifetimeMs / 60_000)} minutes and used once): choose it again`,
      );
  }

  /** How many files are held now (for tests). */
  get size(): number {
    return this.held.size;
  }

  /** Forgets every file (the app is stopping). */
  clear(): void {
    for (const token of [...this.held.keys()]) this.forget(token);
  }

  private forget(token: string): void {
    const held = this.held.get(token);
    if (!held) return;
    clearTimeout(held.timer);
    // Best effort: the Buffer is zeroed; the string made of it for the helper call is the runtime's.
    held.contents.fill(0);
    this.held.delete(token);
  }
}
