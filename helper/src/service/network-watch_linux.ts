// Linux's network-change watch (the seam is network-watch.ts). Notices when the machine's network
// changes (a link, address or route comes or goes), so tunnels can handshake again at once instead
// of waiting for their backoff. iproute2's monitor reads the kernel's netlink notifications for us.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { onLines } from '../lines.ts';
import type { NetworkWatch } from './network-watch.ts';

const DEBOUNCE = 1000;
/** Link flags that say nothing about the network: a capture (tcpdump) toggles these on a link. */
const IRRELEVANT_FLAGS = new Set(['PROMISC', 'ALLMULTI']);
const LINK_LINE = /^(\d+): (\S+?)(?:@\S+)?: <([^>]*)>(.*)$/;

/**
 * A filter over `ip -o monitor link address route` lines: false for a link line that repeats what
 * that link last said, apart from flags that are no change of network (promiscuous mode), so a
 * packet capture does not count as a new network. Everything else (addresses, routes, a link that
 * went up or down, or away) is a change.
 */
export function networkChangeFilter(): (line: string) => boolean {
  const links = new Map<string, string>();
  return (line) => {
    const link = LINK_LINE.exec(line);
    if (!link) return true;
    const [, index, , flags, rest] = link;
    const state = `${flags!
      .split(',')
      .filter((flag) => !IRRELEVANT_FLAGS.has(flag))
      .join(',')}${rest!.replace(/\\.*$/, '').replace(/\s+/g, ' ')}`;
    if (links.get(index!) === state) return false;
    links.set(index!, state);
    return true;
  };
}

export function watchNetworkLinux(onChange: () => void, ours: () => string[]): NetworkWatch {
  let timer: NodeJS.Timeout | undefined;
  let child: ChildProcess | undefined;
  let stopped = false;
  const isChange = networkChangeFilter();
  // The links as they are now, so that the first event of a link is told from its present state.
  execFile('/usr/sbin/ip', ['-o', 'link', 'show'], (error, stdout) => {
    if (!error) for (const line of stdout.split('\n')) isChange(line);
  });
  const start = () => {
    child = spawn('/usr/sbin/ip', ['-o', 'monitor', 'link', 'address', 'route'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const onLine = (line: string) => {
      if (ours().some((name) => line.includes(` ${name} `) || line.includes(`dev ${name}`))) return;
      if (!isChange(line)) return;
      timer ??= setTimeout(() => {
        timer = undefined;
        onChange();
      }, DEBOUNCE);
    };
    onLines(child.stdout!, onLine);
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
