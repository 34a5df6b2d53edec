// Where the helper service keeps its state on Linux (the seam is paths.ts); systemd's StateDirectory=
// makes it.

export const STATE_DIR_LINUX = '/var/lib/phantommesh';
