// The one rule for interface names, which are also tunnel names (wg-quick names the interface after
// its file): 1-15 of [a-zA-Z0-9_=+.-], not "." or "..", and not starting with "-". It keeps every
// name inside the store and UAPI directories, safe in nft's quoted strings and resolvconf records,
// and never read as an option by the tools the helper runs (`resolvectl -ieth0`).

export const INTERFACE_NAME_RULE = '1-15 letters, digits or _=+.-, not starting with "-"';

const PATTERN = /^[a-zA-Z0-9_=+.][a-zA-Z0-9_=+.-]{0,14}$/;

export function isInterfaceName(name: string): boolean {
  return PATTERN.test(name) && name !== '.' && name !== '..';
}
