// Linux's network-change watch (the seam is network-watch.ts). Notices when the machine's network changes (a link, address or route comes or goes), so tunnels
// can handshake again at once instead of waiting for their backoff. iproute2's monitor reads the
// kernel's netlink notifications for us.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { NetworkWatch } from './network-watch.ts';

const DEBOUNCE = 1000;

export function watchNetworkLinux(onChange: () => void, ours: () => string[]): NetworkWatch {
  let timer: NodeJS.Timeout | undefined;
  let child: ChildProcess | undefined;
  let stopped = false;
  const start = () => {
    child = spawn('/usr/sbin/ip', ['-o', 'monitor', 'link', 'address', 'route'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (ours().some((name) => line.includes(` ${name} `) || line.includes(`dev ${name}`))) return;
      timer ??= setTimeout(() => {
        timer = undefined;
        onChange();
      }, DEBOUNCE);
    });
    // The watcher is an optimisation: if it dies, reconnects still happen on their backoff.
    child.on('error', () => {});
    child.on('exit', () => {
      if (!stopped) setTimeout(start, 5000).unref();
    });
  };
  start();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      child?.kill();
    },
  };
}
