// The tunnel name suggested for a wg-quick file, as wg-quick names an interface after its file:
// the app's import dialog fills it in and the CLI suggests it when the file's own name is no valid
// tunnel name.

/** "My Office VPN (2).conf" -> "My-Office-VPN-2"; '' when nothing usable is left. */
export function nameFromFile(fileName: string): string {
  const base = (fileName.split(/[\\/]/).pop() ?? '').replace(/\.conf$/i, '');
  const cleaned = base
    .replace(/\s+/g, '-')
    .replace(/[^a-zA-Z0-9_=+.-]/g, '')
    .replace(/-{2,}/g, '-')
    .replace(/^[-.]+/, '')
    .slice(0, 15)
    .replace(/[-.]+$/, '');
  return cleaned === '.' || cleaned === '..' ? '' : cleaned;
}
