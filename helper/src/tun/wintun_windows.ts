// wintun.dll (https://www.wintun.net, signed by WireGuard LLC) through koffi: the functions of
// wintun.h the helper uses. The DLL ships beside the helper's node.exe (installers/windows/, pinned
// by its SHA-256 in scripts/wintun.ts); PHANTOMMESH_WINTUN_DLL names another copy for development.
// It is loaded by full path only, never through the DLL search order. Loaded once per thread (the
// reader worker loads its own handle).

import { dirname, join } from 'node:path';
import koffi, { type LibraryHandle } from 'koffi';
import { GUID, type Pointer } from '../kernel32_windows.ts';
import type { Guid } from '../guid_windows.ts';

/** A ring of 8 MiB (wireguard-go's choice for Wintun: 0x800000). */
export const RING_CAPACITY = 0x800000;
/** What WintunAllocateSendPacket and WintunReceivePacket handle at most (WINTUN_MAX_IP_PACKET_SIZE). */
export const MAX_IP_PACKET_SIZE = 0xffff;
/** The adapters' tunnel type, shown in Device Manager. */
export const TUNNEL_TYPE = 'PhantomMesh';

export interface Wintun {
  WintunCreateAdapter: (name: string, tunnelType: string, requestedGuid: Guid | null) => Pointer;
  WintunCloseAdapter: (adapter: Pointer) => void;
  WintunGetAdapterLUID: (adapter: Pointer, luid: BigUint64Array) => void;
  WintunGetRunningDriverVersion: () => number;
  WintunStartSession: (adapter: Pointer, capacity: number) => Pointer;
  WintunEndSession: (session: Pointer) => void;
  WintunGetReadWaitEvent: (session: Pointer) => Pointer;
  WintunReceivePacket: (session: Pointer, size: Uint32Array) => Pointer;
  WintunReleaseReceivePacket: (session: Pointer, packet: Pointer) => void;
  WintunAllocateSendPacket: (session: Pointer, size: number) => Pointer;
  WintunSendPacket: (session: Pointer, packet: Pointer) => void;
}

/** Where wintun.dll is: $PHANTOMMESH_WINTUN_DLL, else beside node.exe. */
export function wintunPath(): string {
  return process.env.PHANTOMMESH_WINTUN_DLL ?? join(dirname(process.execPath), 'wintun.dll');
}

let loaded: Wintun | undefined;

export function wintun(): Wintun {
  if (loaded) return loaded;
  const lib: LibraryHandle = koffi.load(wintunPath());
  const f = (definition: string) => lib.func(definition);
  void GUID;
  loaded = {
    WintunCreateAdapter: f(
      'void * __stdcall WintunCreateAdapter(str16 name, str16 tunnelType, const GUID *requestedGuid)',
    ),
    WintunCloseAdapter: f('void __stdcall WintunCloseAdapter(void *adapter)'),
    WintunGetAdapterLUID: f('void __stdcall WintunGetAdapterLUID(void *adapter, uint64_t *luid)'),
    WintunGetRunningDriverVersion: f('uint32 __stdcall WintunGetRunningDriverVersion()'),
    WintunStartSession: f('void * __stdcall WintunStartSession(void *adapter, uint32 capacity)'),
    WintunEndSession: f('void __stdcall WintunEndSession(void *session)'),
    WintunGetReadWaitEvent: f('void * __stdcall WintunGetReadWaitEvent(void *session)'),
    WintunReceivePacket: f('void * __stdcall WintunReceivePacket(void *session, uint32_t *size)'),
    WintunReleaseReceivePacket: f('void __stdcall WintunReleaseReceivePacket(void *session, void *packet)'),
    WintunAllocateSendPacket: f('void * __stdcall WintunAllocateSendPacket(void *session, uint32 size)'),
    WintunSendPacket: f('void __stdcall WintunSendPacket(void *session, void *packet)'),
  };
  return loaded;
}
