// The completion thread of the named-pipe server (pipe-server_windows.ts): waits on the I/O
// completion port and posts each completed operation (which pipe, which OVERLAPPED, how many bytes,
// the error) to the main thread, which issued it. A completion with STOP_KEY ends it.

import { parentPort, workerData } from 'node:worker_threads';
import { INFINITE, kernel32 } from '../kernel32_windows.ts';

export const STOP_KEY = 0xffffffffn;

export interface CompletionMessage {
  key: bigint;
  overlapped: bigint;
  bytes: number;
  /** 0, or the Win32 error of a failed operation. */
  error: number;
}

function run(port: NonNullable<typeof parentPort>, completionPort: bigint): void {
  const k = kernel32();
  const bytes = new Uint32Array(1);
  const key = new BigUint64Array(1);
  const overlapped = new BigUint64Array(1);
  for (;;) {
    const ok = k.GetQueuedCompletionStatus(completionPort, bytes, key, overlapped, INFINITE);
    const error = ok ? 0 : k.GetLastError();
    if (!ok && overlapped[0] === 0n) return; // the port itself failed (closed)
    if (key[0] === STOP_KEY) return;
    port.postMessage({
      key: key[0]!,
      overlapped: overlapped[0]!,
      bytes: bytes[0]!,
      error,
    } satisfies CompletionMessage);
  }
}

if (parentPort) run(parentPort, (workerData as { port: bigint }).port);
