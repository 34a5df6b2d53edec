// Who is at the other end of a control connection, and whether that user may control the helper.
// One implementation per OS: peercred_linux.ts (SO_PEERCRED and the user database). And the other
// way round, for the CLI: how it checks that the helper is at its end (controlServerCheck).

import type { Socket } from 'node:net';
import { forPlatform } from '../for-platform.ts';
import * as darwin from './peercred_darwin.ts';
import * as linux from './peercred_linux.ts';
import * as win32 from './peercred_windows.ts';
import { openVerifiedPipe } from './pipe-server-check_windows.ts';

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

/**
 * connectHelper's `openVerified` for the CLI on this OS. Windows: the control pipe opened by hand and
 * its server process checked to be LocalSystem (pipe-server-check_windows.ts). Elsewhere undefined:
 * connectHelper checks that root owns the socket file.
 */
export function controlServerCheck(): ((path: string) => Promise<Socket>) | undefined {
  return process.platform === 'win32' ? openVerifiedPipe : undefined;
}
