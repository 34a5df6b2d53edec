// Electron hardening, after Electron's security checklist and Mullvad's GUI: the page is the app's own
// code served from app://phantommesh with a strict CSP; it cannot navigate, open windows, get a
// permission or reach the network; the only links it can open are the allowlisted ones, through the
// user's browser. Electron itself is only a type here, so these rules are testable in plain Node.

import type { Session, WebContents } from 'electron';
import { isAllowedLink } from './links.ts';

export const APP_SCHEME = 'app';
export const APP_HOST = 'phantommesh';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const APP_URL = `${APP_ORIGIN}/index.html`;

export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/** Headers of every response with the app's own files. */
export const APP_RESPONSE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Referrer-Policy': 'no-referrer',
};

export function isAppUrl(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.protocol === `${APP_SCHEME}:` && parsed.host === APP_HOST;
  } catch {
    return false;
  }
}

/**
 * Whether the session lets a request through: the app's own files only, so not even a compromised
 * dependency in the renderer can phone home. DevTools loads its own pages, in development only.
 */
export function isAllowedRequest(url: string, allowDevTools: boolean): boolean {
  return isAppUrl(url) || (allowDevTools && url.startsWith('devtools://'));
}

export function hardenSession(session: Session, options: { allowDevTools: boolean }): void {
  session.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.setPermissionCheckHandler(() => false);
  session.setDevicePermissionHandler(() => false);
  session.webRequest.onBeforeRequest((details, callback) =>
    callback({ cancel: !isAllowedRequest(details.url, options.allowDevTools) }),
  );
}

/** No navigation, no new windows, no webviews; an allowlisted link opens in the user's browser. */
export function hardenContents(contents: WebContents, openExternal: (url: string) => void): void {
  contents.on('will-frame-navigate', (event) => event.preventDefault());
  contents.on('will-redirect', (event) => event.preventDefault());
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    if (isAllowedLink(url)) openExternal(url);
    return { action: 'deny' };
  });
}
