// The lines of a child process's output, for the watches that read a monitor (`ip monitor` on Linux,
// `route -n monitor` on macOS). node:readline does the same, but the service would load it (and on
// every OS, since the seams import each OS's module) for this alone (docs/performance.md).

import type { Readable } from 'node:stream';

/** Calls `onLine` with each complete line `stream` yields, without its newline. */
export function onLines(stream: Readable, onLine: (line: string) => void): void {
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const line of lines) onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
  });
}
