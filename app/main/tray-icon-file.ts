// Which file of resources/icons (scripts/tray-icons.ts) the tray shows for a state, per OS:
// - Linux: tray-STATE.png (16 px; Electron takes tray-STATE@2x.png on high-DPI screens by itself);
// - macOS: tray-STATETemplate.png, a template image that the menu bar tints itself;
// - Windows: tray-STATE-win-dark.ico or tray-STATE-win-light.ico, for a dark or a light taskbar (the
//   Windows mode, which may differ from the apps' mode); each .ico holds 16 to 48 px (100 % to 300 %
//   scaling), and Windows picks the size the notification area needs.

import type { TrayIcon } from './tray-model.ts';

export function trayIconFile(state: TrayIcon, platform: NodeJS.Platform, taskbarIsLight = false): string {
  if (platform === 'darwin') return `tray-${state}Template.png`;
  if (platform === 'win32') return `tray-${state}-win-${taskbarIsLight ? 'light' : 'dark'}.ico`;
  return `tray-${state}.png`;
}
