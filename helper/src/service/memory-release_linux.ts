// Returning freed memory on Linux (the seam is memory-release.ts): glibc's malloc_trim(0) gives back
// the free pages of every arena, the main heap's and those of V8's background threads, not only the
// top of the heap that free() itself trims.

import { libc } from '../libc_linux.ts';

export function releaseFreedMemoryLinux(): void {
  libc().malloc_trim(0);
}
