import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

// What the idle helper carries all day is mostly what it loaded at start-up (docs/performance.md):
// Node's HTTP stack (with it, its internal undici) and the WebSocket client load only when a feature
// that needs them is turned on (metrics, a relay transport), not with the service.
test('starting the service module loads no HTTP, TLS, undici or WebSocket code', () => {
  const script = `
    await import(${JSON.stringify(new URL('../../helper/src/service/serve.ts', import.meta.url).href)});
    const { createRequire } = await import('node:module');
    const loaded = process.moduleLoadList.filter((m) => /undici|NativeModule (http|https|tls|_http_\\w+)$/.test(m));
    const require = createRequire(import.meta.url);
    const ws = Object.keys(require.cache).filter((path) => path.includes('/node_modules/ws/'));
    console.log(JSON.stringify([...loaded, ...ws]));
  `;
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.deepEqual(JSON.parse(output.trim().split('\n').at(-1)!), []);
});
