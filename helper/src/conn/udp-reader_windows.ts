// The reader thread of a Windows UDP socket (bind_windows.ts): drains the non-blocking socket with
// recvfrom into a batch of [source SOCKADDR_INET][datagram] records, posts it, then waits for the
// socket to become readable (WSAPoll, a second at a time, so that a stop request is seen even when
// nothing arrives). One thread per socket; sends stay on the main thread.

import { parentPort, workerData } from 'node:worker_threads';
import { SOCKADDR_INET_BYTES } from '../sockaddr_windows.ts';
import { BatchWriter } from '../tun/packet-batch_windows.ts';
import { POLLRDNORM, WSAECONNRESET, WSAEMSGSIZE, WSAEWOULDBLOCK, ws2 } from '../ws2_32_windows.ts';

export interface UdpReaderData {
  socket: bigint;
  /** Int32Array over a SharedArrayBuffer: 1 asks the thread to stop. */
  stop: SharedArrayBuffer;
}

export type UdpReaderMessage = { batch: ArrayBuffer } | { failed: string };

const MAX_DATAGRAM = 65535;

function run(port: NonNullable<typeof parentPort>, data: UdpReaderData): void {
  const api = ws2();
  const stop = new Int32Array(data.stop);
  const datagram = new Uint8Array(MAX_DATAGRAM);
  const from = new Uint8Array(SOCKADDR_INET_BYTES);
  const fromLength = new Int32Array(1);
  // WSAPOLLFD { SOCKET fd; SHORT events; SHORT revents; } (16 bytes)
  const poll = new Uint8Array(16);
  const pollView = new DataView(poll.buffer);
  pollView.setBigUint64(0, data.socket, true);
  pollView.setInt16(8, POLLRDNORM, true);
  let batch = new BatchWriter();
  const flush = () => {
    if (batch.count === 0) return;
    const buffer = batch.take();
    port.postMessage({ batch: buffer } satisfies UdpReaderMessage, [buffer]);
    batch = new BatchWriter();
  };
  while (Atomics.load(stop, 0) === 0) {
    fromLength[0] = SOCKADDR_INET_BYTES;
    from.fill(0);
    const length = api.recvfrom(data.socket, datagram, datagram.length, 0, from, fromLength);
    if (length >= 0) {
      if (!batch.fits(SOCKADDR_INET_BYTES + length)) flush();
      const room = batch.reserve(SOCKADDR_INET_BYTES + length);
      room.set(from, 0);
      room.set(datagram.subarray(0, length), SOCKADDR_INET_BYTES);
      continue;
    }
    const error = api.WSAGetLastError();
    // A port-unreachable answer to an earlier send, or an oversized datagram: skip it.
    if (error === WSAECONNRESET || error === WSAEMSGSIZE) continue;
    flush();
    if (error !== WSAEWOULDBLOCK) {
      if (Atomics.load(stop, 0) === 0)
        port.postMessage({ failed: `recvfrom failed (error ${error})` } satisfies UdpReaderMessage);
      return;
    }
    pollView.setInt16(10, 0, true);
    api.WSAPoll(poll, 1, 1000);
  }
}

if (parentPort) run(parentPort, workerData as UdpReaderData);
