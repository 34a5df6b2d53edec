// Who is at the other end of a control connection, and whether that user may control the helper.
// One implementation per OS: peercred_linux.ts (SO_PEERCRED and the user database).

import type { Socket } from 'node:net';
import { forPlatform } from '../for-platform.ts';
import * as darwin from './peercred_darwin.ts';
import * as linux from './peercred_linux.ts';
import * as win32 from './peercred_windows.ts';

/** The client as the kernel recorded it when it connected: a client cannot lie about it. */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

const peercred = () => forPlatform('Checking control clients', { linux, darwin, win32 });

export function peerCredentials(socket: Socket): PeerCredentials {
  return peercred().peerCredentials(socket);
}

/** The gid of a group, or null if there is no such group. */
export function groupId(name: string): Promise<number | null> {
  return peercred().groupId(name);
}

/** Whether the user with this uid has `gid` as primary or supplementary group. Unknown uids do not. */
export function isGroupMember(uid: number, gid: number): Promise<boolean> {
  return peercred().isGroupMember(uid, gid);
}
