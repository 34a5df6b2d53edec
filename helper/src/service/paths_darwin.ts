// Where the helper service keeps its state on macOS (the seam is paths.ts): root's, beside other
// system services' state; checkStateDir makes it 0700 on first start.

export const STATE_DIR_DARWIN = '/Library/Application Support/PhantomMesh';
