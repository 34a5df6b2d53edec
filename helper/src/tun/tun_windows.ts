// A TUN device on Windows: a Wintun adapter (wintun_windows.ts) named after the tunnel, with a GUID
// derived from the name (so Windows keeps one network profile per tunnel), and one session on it.
// Packets in come from a reader thread (wintun-reader_windows.ts) in batches; packets out are written
// here on the main thread (WintunAllocateSendPacket, copy, WintunSendPacket: a ring slot, no system
// call). Closing ends the session and closes the adapter, which removes it (and with it its addresses
// and routes). The adapter's LUID is what net_windows.ts configures.

import { Worker } from 'node:worker_threads';
import { PhantomError } from '../../../shared/src/errors.ts';
import { siblingModule } from '../sibling-module.ts';
import { nameGuid } from '../guid_windows.ts';
import { kernel32, win32Message, type Pointer } from '../kernel32_windows.ts';
import { ownAdapters } from '../route-watch_windows.ts';
import { setInterface, getInterface } from '../net/ipconfig_windows.ts';
import { forEachPacket } from './packet-batch_windows.ts';
import type { Tun, TunOptions } from './tun.ts';
import type { ReaderData, ReaderMessage } from './wintun-reader_windows.ts';
import { MAX_IP_PACKET_SIZE, RING_CAPACITY, TUNNEL_TYPE, wintun } from './wintun_windows.ts';

const READER_URL = new URL(siblingModule('./wintun-reader_windows', import.meta.url));
const ADAPTER_NAMESPACE = 'phantommesh-wintun-adapter';
const ERROR_BUFFER_OVERFLOW = 111;
const MTU_POLL_MS = 2000;

export function openTunWindows(name: string, options: TunOptions): Tun {
  const w = wintun();
  const k = kernel32();
  const adapter = w.WintunCreateAdapter(name, TUNNEL_TYPE, nameGuid(ADAPTER_NAMESPACE, name));
  if (!adapter)
    throw new PhantomError(
      'TUN_OPEN_FAILED',
      `cannot create the Wintun adapter ${name}: ${win32Message(k.GetLastError())}`,
    );
  const luidOut = new BigUint64Array(1);
  w.WintunGetAdapterLUID(adapter, luidOut);
  const luid = luidOut[0]!;
  const session = w.WintunStartSession(adapter, RING_CAPACITY);
  if (!session) {
    const error = k.GetLastError();
    w.WintunCloseAdapter(adapter);
    throw new PhantomError(
      'TUN_OPEN_FAILED',
      `cannot start a Wintun session on ${name}: ${win32Message(error)}`,
    );
  }
  ownAdapters.add(luid);
  if (options.mtu !== undefined) {
    try {
      setInterface(luid, 4, { mtu: options.mtu });
    } catch {
      // The MTU is set again by net.setLinkUp once addresses are on.
    }
  }
  const quitEvent: Pointer = k.CreateEventW(null, 1, 0, null);
  let mtu = options.mtu ?? getInterface(luid, 4)?.NlMtu ?? 1420;
  let closedReason: ((reason: string) => void) | undefined;
  const closed = new Promise<string>((resolve) => (closedReason = resolve));
  let reader: Worker | undefined;
  let mtuTimer: NodeJS.Timeout | undefined;
  let open = true;
  let ended: Promise<void> | undefined;

  const finish = (reason: string): Promise<void> => {
    if (ended) return ended;
    open = false;
    clearInterval(mtuTimer);
    ended = (async () => {
      k.SetEvent(quitEvent);
      if (reader) await new Promise<void>((resolve) => reader!.once('exit', () => resolve()));
      w.WintunEndSession(session);
      w.WintunCloseAdapter(adapter);
      k.CloseHandle(quitEvent);
      ownAdapters.delete(luid);
      closedReason?.(reason);
    })();
    return ended;
  };

  return {
    name,
    get mtu() {
      return mtu;
    },
    start(onPacket, _onWriteFailures, onMtu) {
      if (reader || !open) return;
      const data: ReaderData = { session, readEvent: w.WintunGetReadWaitEvent(session), quitEvent };
      reader = new Worker(READER_URL, { workerData: data });
      reader.on('message', (message: ReaderMessage) => {
        if ('batch' in message) forEachPacket(message.batch, onPacket);
        else void finish(message.closed);
      });
      reader.on('error', (error) => void finish(`the Wintun reader failed: ${error.message}`));
      // Windows has no MTU change notification for one interface: the MTU is read every 2 s.
      mtuTimer = setInterval(() => {
        const now = getInterface(luid, 4)?.NlMtu;
        if (now !== undefined && now !== mtu) {
          mtu = now;
          onMtu?.(now);
        }
      }, MTU_POLL_MS);
      mtuTimer.unref();
    },
    write(packet) {
      if (!open || packet.length > MAX_IP_PACKET_SIZE) return false;
      const slot = w.WintunAllocateSendPacket(session, packet.length);
      if (!slot) {
        // ERROR_BUFFER_OVERFLOW: the ring is full (the stack is not reading); the packet is lost.
        if (k.GetLastError() === ERROR_BUFFER_OVERFLOW) return false;
        void finish('writing to the adapter failed: it is gone');
        return false;
      }
      k.RtlMoveMemory(slot, packet, packet.length);
      w.WintunSendPacket(session, slot);
      return true;
    },
    closed,
    close: () => finish('closed'),
  };
}
