// The Wintun reader thread: takes every packet the adapter has (WintunReceivePacket), copies it into
// a batch and releases it at once, posts the batch to the main thread, and when the ring is empty
// waits on the session's read-wait event or the quit event (WaitForMultipleObjects), so the main
// thread never blocks and the event loop is woken once per burst instead of once per packet
// (wireguard-go's tun_windows.go spins briefly first; this waits at once).

import { parentPort, workerData } from 'node:worker_threads';
import {
  ERROR_HANDLE_EOF,
  ERROR_NO_MORE_ITEMS,
  INFINITE,
  kernel32,
  WAIT_OBJECT_0,
} from '../kernel32_windows.ts';
import { BatchWriter } from './packet-batch_windows.ts';
import { wintun } from './wintun_windows.ts';

export interface ReaderData {
  session: bigint;
  readEvent: bigint;
  quitEvent: bigint;
}

export type ReaderMessage = { batch: ArrayBuffer } | { closed: string };

function run(port: NonNullable<typeof parentPort>, data: ReaderData): void {
  const w = wintun();
  const k = kernel32();
  const size = new Uint32Array(1);
  const events = new BigUint64Array([data.readEvent, data.quitEvent]);
  let batch = new BatchWriter();
  const flush = () => {
    if (batch.count === 0) return;
    const buffer = batch.take();
    port.postMessage({ batch: buffer } satisfies ReaderMessage, [buffer]);
  };
  for (;;) {
    const packet = w.WintunReceivePacket(data.session, size);
    if (packet) {
      const length = size[0]!;
      if (!batch.fits(length)) {
        flush();
        batch = new BatchWriter();
      }
      k.RtlMoveMemory(batch.reserve(length), packet, length);
      w.WintunReleaseReceivePacket(data.session, packet);
      continue;
    }
    const error = k.GetLastError();
    flush();
    if (error === ERROR_HANDLE_EOF) {
      port.postMessage({ closed: 'the adapter was removed' } satisfies ReaderMessage);
      return;
    }
    if (error !== ERROR_NO_MORE_ITEMS) {
      port.postMessage({ closed: `reading the adapter failed (error ${error})` } satisfies ReaderMessage);
      return;
    }
    const woken = k.WaitForMultipleObjects(2, events, 0, INFINITE);
    if (woken !== WAIT_OBJECT_0) return; // the quit event (or a failed wait): the main thread is closing
  }
}

if (parentPort) run(parentPort, workerData as ReaderData);
