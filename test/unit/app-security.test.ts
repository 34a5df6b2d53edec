// The Electron hardening rules that do not need Electron: what the page may load, which files the
// app:// protocol and the browser host serve, the updater's policy; and the session and window hooks
// with Electron's objects mocked (no Electron binary here).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Session, WebContents } from 'electron';
import { LINKS } from '../../app/main/links.ts';
import {
  APP_URL,
  CONTENT_SECURITY_POLICY,
  hardenContents,
  hardenSession,
  isAllowedRequest,
  isAppUrl,
} from '../../app/main/security.ts';
import { contentType, resolveStaticPath } from '../../app/main/static-files.ts';
import { updatePolicy } from '../../app/main/updater.ts';
import { injectShim } from '../../app/web/web-host.ts';

test('the CSP is the strict one', () => {
  assert.equal(
    CONTENT_SECURITY_POLICY,
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
      "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  );
});

test('only app://phantommesh is the app; DevTools only when allowed', () => {
  assert.ok(isAppUrl(APP_URL));
  assert.ok(isAppUrl('app://phantommesh/assets/index-1234.js'));
  for (const url of [
    'app://evil/index.html',
    'app://phantommesh.evil.example/',
    'file:///work/main/dist/renderer/index.html',
    'https://phantommesh.net/',
    'http://127.0.0.1:5190/',
    'not a url',
  ])
    assert.equal(isAppUrl(url), false, url);
  assert.equal(isAllowedRequest('https://telemetry.example/x', true), false);
  assert.equal(isAllowedRequest('devtools://devtools/bundled/inspector.html', false), false);
  assert.equal(isAllowedRequest('devtools://devtools/bundled/inspector.html', true), true);
});

test('static files: under the renderer directory only; routes are index.html', () => {
  const root = '/srv/renderer';
  assert.equal(resolveStaticPath(root, '/'), '/srv/renderer/index.html');
  assert.equal(resolveStaticPath(root, '/index.html'), '/srv/renderer/index.html');
  assert.equal(resolveStaticPath(root, '/tunnels/office'), '/srv/renderer/index.html');
  assert.equal(resolveStaticPath(root, '/assets/app-1.js'), '/srv/renderer/assets/app-1.js');
  assert.equal(resolveStaticPath(root, '/assets/a%20b.css'), '/srv/renderer/assets/a b.css');
  for (const path of [
    '/../etc/passwd.txt',
    '/%2e%2e/etc/passwd.txt',
    '/assets/..%2f..%2fsecret.js',
    '/a%00.js',
    '/%E0%A4%A.js',
    '/..\\x.js',
  ])
    assert.equal(resolveStaticPath(root, path), null, path);
  assert.equal(contentType('/x/index.html'), 'text/html; charset=utf-8');
  assert.equal(contentType('/x/a.JS'), 'text/javascript; charset=utf-8');
  assert.equal(contentType('/x/blob.bin'), 'application/octet-stream');
});

test('the browser host puts its shim first in <head>', () => {
  assert.equal(
    injectShim(
      '<!doctype html><html><head lang="en"><title>x</title><script type="module" src="./a.js"></script></head></html>',
    ),
    '<!doctype html><html><head lang="en"><script src="/phantommesh-shim.js"></script><title>x</title><script type="module" src="./a.js"></script></head></html>',
  );
  assert.equal(injectShim('<p>bare</p>'), '<script src="/phantommesh-shim.js"></script><p>bare</p>');
  // <header> is not <head>.
  assert.match(
    injectShim('<body><header>h</header></body>'),
    /^<script src="\/phantommesh-shim.js"><\/script><body>/,
  );
});

test('updates: off in development and for the Linux packages; on with a feed', () => {
  const packaged = {
    isPackaged: true,
    platform: 'win32' as const,
    packageType: null,
    appImage: false,
    hasUpdateConfig: true,
  };
  assert.deepEqual(updatePolicy(packaged), { enabled: true });
  assert.deepEqual(updatePolicy({ ...packaged, platform: 'darwin' }), { enabled: true });
  assert.equal(updatePolicy({ ...packaged, isPackaged: false }).enabled, false);
  assert.equal(updatePolicy({ ...packaged, hasUpdateConfig: false }).enabled, false);
  for (const packageType of ['deb', 'rpm'])
    assert.deepEqual(updatePolicy({ ...packaged, platform: 'linux', packageType }), {
      enabled: false,
      reason: 'installed by the package manager, which also brings its updates',
    });
  assert.equal(updatePolicy({ ...packaged, platform: 'linux' }).enabled, false);
  assert.deepEqual(updatePolicy({ ...packaged, platform: 'linux', appImage: true }), { enabled: true });
});

test('session: every permission denied, every request but the app cancelled (Electron APIs mocked: no Electron binary here)', () => {
  const handlers: Record<string, (...args: never[]) => unknown> = {};
  const session = {
    setPermissionRequestHandler: (handler: never) => (handlers.request = handler),
    setPermissionCheckHandler: (handler: never) => (handlers.check = handler),
    setDevicePermissionHandler: (handler: never) => (handlers.device = handler),
    webRequest: { onBeforeRequest: (handler: never) => (handlers.beforeRequest = handler) },
  };
  hardenSession(session as unknown as Session, { allowDevTools: false });
  const granted: boolean[] = [];
  const request = handlers.request as unknown as (
    c: unknown,
    p: string,
    callback: (ok: boolean) => void,
  ) => void;
  for (const permission of ['media', 'geolocation', 'notifications', 'clipboard-read'])
    request(null, permission, (ok) => granted.push(ok));
  assert.deepEqual(granted, [false, false, false, false]);
  assert.equal((handlers.check as unknown as () => boolean)(), false);
  assert.equal((handlers.device as unknown as () => boolean)(), false);
  const beforeRequest = handlers.beforeRequest as unknown as (
    details: { url: string },
    callback: (response: { cancel: boolean }) => void,
  ) => void;
  const cancelled = (url: string) => {
    let result: boolean | undefined;
    beforeRequest({ url }, (response) => (result = response.cancel));
    return result;
  };
  assert.equal(cancelled('app://phantommesh/index.html'), false);
  assert.equal(cancelled('https://phantommesh.net/help'), true);
  assert.equal(cancelled('file:///etc/passwd'), true);
  assert.equal(cancelled('ws://127.0.0.1:5190/ipc'), true);
});

test('window contents: no navigation, no windows, links only from the allowlist (Electron APIs mocked: no Electron binary here)', () => {
  const listeners = new Map<string, (event: { preventDefault(): void }) => void>();
  let openHandler: ((details: { url: string }) => { action: string }) | undefined;
  const contents = {
    on: (name: string, listener: (event: { preventDefault(): void }) => void) =>
      listeners.set(name, listener),
    setWindowOpenHandler: (handler: typeof openHandler) => (openHandler = handler),
  };
  const opened: string[] = [];
  hardenContents(contents as unknown as WebContents, (url) => opened.push(url));
  for (const name of ['will-frame-navigate', 'will-redirect', 'will-attach-webview']) {
    let prevented = false;
    listeners.get(name)!({ preventDefault: () => (prevented = true) });
    assert.ok(prevented, name);
  }
  assert.deepEqual(openHandler!({ url: LINKS.help }), { action: 'deny' });
  assert.deepEqual(openHandler!({ url: 'https://evil.example/' }), { action: 'deny' });
  assert.deepEqual(openHandler!({ url: `${LINKS.issues}?x` }), { action: 'deny' });
  assert.deepEqual(opened, [LINKS.help]);
});
