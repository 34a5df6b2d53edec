// OS network configuration for a tunnel interface: addresses, MTU and link state, routes.

import { NotSupportedError } from '../../../shared/src/errors.ts';
import type { IpPrefix } from '../../../shared/src/ip.ts';
import * as linux from './linux.ts';

export interface NetConfig {
  addAddress(ifname: string, prefix: IpPrefix): Promise<void>;
  setLinkUp(ifname: string, mtu: number): Promise<void>;
  addRoute(ifname: string, prefix: IpPrefix, table?: string): Promise<void>;
  deleteRoute(ifname: string, prefix: IpPrefix, table?: string): Promise<void>;
  linkExists(ifname: string): Promise<boolean>;
  deleteLink(ifname: string): Promise<void>;
}

/** This OS's implementation. Errors are PhantomErrors carrying the OS tool's own message. */
export function netConfig(): NetConfig {
  if (process.platform === 'linux') return linux;
  throw new NotSupportedError('Network configuration');
}
