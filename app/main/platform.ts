// What the controller needs from the desktop it runs on. Electron provides it in the app
// (electron-platform.ts); the browser host provides a development stand-in (app/web/browser-host-platform.ts).

import type { Socket } from 'node:net';
import type { TransportFileKind } from '../../shared/src/ipc/schema.ts';
import type { AppNotification } from './notifications.ts';

export interface Platform {
  /** Whether fixHelper can start or install the helper here (HelperConnection.canFix). */
  readonly canFixHelper: boolean;
  /** How to get the helper running here (read again at each failed attempt: Windows asks the SCM). */
  readonly helperHint: string;
  /** What to tell a user the helper refuses, where the default (the Linux group command) is wrong. */
  readonly unauthorizedMessage?: string;
  /**
   * Opens the connection to the helper and checks who serves it (connectHelper's openVerified).
   * Windows only: the control pipe's server must run as LocalSystem (pipe-server-check_windows.ts).
   */
  readonly openHelper?: (path: string) => Promise<Socket>;
  /** Asks the OS to start (or install) the helper service; resolves once it was asked. */
  fixHelper(): Promise<void>;
  /** Lets the user pick a WireGuard configuration file; its path, or null when cancelled. */
  chooseConfigFile(): Promise<string | null>;
  /**
   * Lets the user pick a relay's client certificate, client key or CA file; its path, or null when
   * cancelled. The main process reads it (transport-files.ts): the renderer never sees its contents.
   */
  chooseTransportFile(kind: TransportFileKind): Promise<string | null>;
  /**
   * Lets the user save `text` (suggested file name `name`); the path written, or null when cancelled.
   * A `secret` (a private key) is written with mode 0600.
   */
  saveText(name: string, text: string, options?: { secret?: boolean }): Promise<string | null>;
  /** Opens a URL from the app's allowlist (links.ts) in the user's browser. */
  openExternal(url: string): Promise<void>;
  setStartAtLogin(enabled: boolean): Promise<void>;
  notify(notification: AppNotification): void;
}
