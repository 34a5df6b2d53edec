// Where a thread's module is: the Windows helper's reader threads (Wintun, UDP, the control pipe) are
// Node workers started from a module beside the one that starts them.

/**
 * The URL of module `name` (without its extension) beside the module at `base` (pass import.meta.url):
 * under Node's type stripping modules are .ts files; built, they are .js files.
 */
export function siblingModule(name: string, base: string): string {
  return new URL(`${name}${base.endsWith('.ts') ? '.ts' : '.js'}`, base).href;
}
