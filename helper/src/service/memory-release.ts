// Handing freed heap memory back to the system after the helper's bursts of allocation: start-up, and
// a tunnel coming up or going down (its warm-up and first handshakes, V8 compiling on its background
// threads, the routes and firewall being set). glibc's malloc keeps what is freed in its arenas for
// reuse, and after such a burst 0.5-1 MB of the idle helper's RSS is memory nothing will reuse soon
// (measured, docs/performance.md). One implementation per OS: memory-release_linux.ts. macOS and
// Windows have none yet; there the helper simply keeps what its allocator keeps.

import { NotSupportedError } from '../../../shared/src/errors.ts';
import { forPlatform } from '../for-platform.ts';
import { releaseFreedMemoryLinux } from './memory-release_linux.ts';

/** How long after the last burst to wait: long enough for V8's background compilation to finish. */
export const SETTLE_MS = 5000;

/** Returns the C heap's free pages to the system now. */
export function releaseFreedMemory(): void {
  forPlatform('returning freed memory to the system', { linux: releaseFreedMemoryLinux })();
}

let timer: NodeJS.Timeout | undefined;

/** releaseFreedMemory() SETTLE_MS from now, once, however often it is asked for meanwhile; nothing on
 *  an OS without an implementation (it only saves memory). */
export function releaseFreedMemorySoon(): void {
  clearTimeout(timer);
  timer = setTimeout(() => {
    timer = undefined;
    try {
      releaseFreedMemory();
    } catch (error) {
      if (!(error instanceof NotSupportedError)) throw error;
    }
  }, SETTLE_MS).unref();
}
