// Serving the built renderer, for the app:// protocol in Electron and for the browser host: which file
// a request path names (never one outside the renderer directory) and its type.

import { extname, resolve, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json',
};

/**
 * The file under `root` that URL path `pathname` names, or null when it names none or one outside
 * `root`. A path without an extension is a route of the single-page renderer: index.html.
 */
export function resolveStaticPath(root: string, pathname: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  const base = resolve(root);
  const relative = extname(decoded) === '' ? 'index.html' : decoded.replace(/^\/+/, '');
  const file = resolve(base, relative);
  return file.startsWith(base + sep) ? file : null;
}

export function contentType(file: string): string {
  return TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
}
