// What the UAPI exchanges with the device: a snapshot for `get=1`, a parsed transaction for `set=1`.

import type { Endpoint, IpPrefix } from '../../../shared/src/ip.ts';

export interface PeerSnapshot {
  publicKey: Uint8Array;
  presharedKey: Uint8Array | null;
  endpoint: Endpoint | null;
  /** Seconds, 0 = off. */
  persistentKeepalive: number;
  /** Wall clock of the latest handshake. */
  lastHandshake: { sec: number; nsec: number } | null;
  rxBytes: bigint;
  txBytes: bigint;
  allowedIps: IpPrefix[];
}

export interface DeviceSnapshot {
  privateKey: Uint8Array | null;
  listenPort: number;
  fwmark: number;
  peers: PeerSnapshot[];
}

export interface PeerChange {
  publicKey: Uint8Array;
  remove: boolean;
  updateOnly: boolean;
  /** undefined = unchanged, null = remove (the all-zero key). */
  presharedKey?: Uint8Array | null;
  endpoint?: Endpoint;
  persistentKeepalive?: number;
  replaceAllowedIps: boolean;
  addAllowedIps: IpPrefix[];
  removeAllowedIps: IpPrefix[];
}

export interface DeviceChange {
  /** undefined = unchanged, null = remove (the all-zero key). */
  privateKey?: Uint8Array | null;
  listenPort?: number;
  fwmark?: number;
  replacePeers: boolean;
  peers: PeerChange[];
}

export interface UapiDevice {
  snapshot(): DeviceSnapshot;
  apply(change: DeviceChange): Promise<void>;
}

/** A failed request; `errno` is negative as wireguard-go sends it: -22 EINVAL, -71 EPROTO, -98 EADDRINUSE, -5 EIO. */
export class UapiError extends Error {
  readonly errno: number;
  constructor(errno: number, message: string) {
    super(message);
    this.name = 'UapiError';
    this.errno = errno;
  }
}
