// What the UAPI needs of a device: a snapshot for `get=1` and a parsed transaction for `set=1`, in the
// device's own vocabulary (wireguard/config.ts), and the errno a failed request is answered with.

import type { DeviceChange, DeviceSnapshot } from '../wireguard/config.ts';

export interface UapiDevice {
  snapshot(): DeviceSnapshot;
  /** `now` is the monotonic clock in ms, as the device takes it everywhere. */
  apply(change: DeviceChange, now: number): Promise<void>;
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
