// The device's configuration vocabulary: a change to apply (`Device.apply`), a snapshot of what is
// set (`Device.snapshot`) and the error a change can fail with. Front ends translate to and from
// these: the UAPI module (uapi/) from its `set=1`/`get=1` text and to its errnos, the tunnel from a
// wg-quick file.

import { PhantomError } from '../../../shared/src/errors.ts';
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

/**
 * Why a change could not be applied: ADDRESS_IN_USE when the UDP port cannot be bound, INVALID when
 * the change itself is malformed (an address that is not one).
 */
export type DeviceConfigErrorCode = 'ADDRESS_IN_USE' | 'INVALID';

export class DeviceConfigError extends PhantomError {
  declare readonly code: DeviceConfigErrorCode;
  constructor(code: DeviceConfigErrorCode, message: string) {
    super(code, message);
    this.name = 'DeviceConfigError';
  }
}
