// app://phantommesh serves the built renderer, instead of file:// (Electron's checklist: "avoid the
// file:// protocol"): the page gets a real origin for 'self' in its CSP, the CSP arrives as a header
// (file:// responses have none), and nothing outside the renderer directory can be read through it.

import { readFile } from 'node:fs/promises';
import { protocol, type Session } from 'electron';
import { APP_HOST, APP_RESPONSE_HEADERS, APP_SCHEME } from './security.ts';
import { contentType, resolveStaticPath } from './static-files.ts';

/** Before the app is ready: a standard, secure scheme, like https to the page. */
export function registerAppScheme(): void {
  protocol.registerSchemesAsPrivileged([
    { scheme: APP_SCHEME, privileges: { standard: true, secure: true, codeCache: true } },
  ]);
}

export function serveApp(session: Session, rendererDir: string): void {
  session.protocol.handle(APP_SCHEME, async (request) => {
    const url = new URL(request.url);
    const file =
      url.host === APP_HOST && request.method === 'GET' ? resolveStaticPath(rendererDir, url.pathname) : null;
    if (file === null) return new Response('Not found', { status: 404 });
    try {
      const body = await readFile(file);
      return new Response(body, { headers: { ...APP_RESPONSE_HEADERS, 'Content-Type': contentType(file) } });
    } catch {
      return new Response('Not found', { status: 404 });
    }
  });
}
