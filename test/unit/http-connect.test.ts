// HTTP CONNECT through a proxy (helper/src/conn/http-connect.ts): the proxy URL, the request, the
// answer's parsing at every split, its bounds, and the exchange on a real loopback socket against a
// scripted proxy.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import {
  connectRequest,
  httpConnect,
  MAX_RESPONSE_HEAD,
  parseConnectResponse,
  parseProxyUrl,
  ProxyError,
  ProxyUrlError,
  redactProxyUrl,
} from '../../helper/src/conn/http-connect.ts';

test('proxy URLs: host, port, credentials decoded; what is not a plain http proxy refused', () => {
  assert.deepEqual(parseProxyUrl('http://proxy.example:3128'), { host: 'proxy.example', port: 3128 });
  assert.deepEqual(parseProxyUrl('http://192.0.2.7:8080/'), { host: '192.0.2.7', port: 8080 });
  assert.deepEqual(parseProxyUrl('http://[2001:db8::1]:3128'), { host: '2001:db8::1', port: 3128 });
  assert.deepEqual(parseProxyUrl('http://Proxy.Example'), { host: 'proxy.example', port: 80 });
  assert.deepEqual(parseProxyUrl('http://alice:p%40ss%3Aword@192.0.2.7:3128'), {
    host: '192.0.2.7',
    port: 3128,
    username: 'alice',
    password: 'p@ss:word',
  });
  assert.deepEqual(parseProxyUrl('http://bob@192.0.2.7:3128'), {
    host: '192.0.2.7',
    port: 3128,
    username: 'bob',
    password: '',
  });
  for (const [text, problem] of [
    ['https://192.0.2.7:3128', /unsupported scheme https:/],
    ['socks5://192.0.2.7:1080', /unsupported scheme/],
    ['http://192.0.2.7:3128/path', /path, query or fragment/],
    ['http://192.0.2.7:3128?x=1', /path, query or fragment/],
    ['192.0.2.7:3128', /unsupported scheme|not a URL/],
    ['http://a%3Ab:secret@192.0.2.7:3128', /user name may not contain ":"/],
    ['http://user:%E0%A4%A@192.0.2.7:3128', /invalid %-escape/],
    ['not a url', /not a URL/],
  ] as const) {
    assert.throws(
      () => parseProxyUrl(text),
      (error: Error) => error instanceof ProxyUrlError && problem.test(error.message),
      text,
    );
  }
});

test('a refused proxy URL never repeats its password', () => {
  assert.equal(redactProxyUrl('http://alice:secret@192.0.2.7:3128'), 'http://***@192.0.2.7:3128');
  assert.equal(redactProxyUrl('http://192.0.2.7:3128'), 'http://192.0.2.7:3128');
  assert.throws(
    () => parseProxyUrl('http://alice:secret@192.0.2.7:3128/path'),
    (error: Error) => !error.message.includes('secret') && error.message.includes('***@'),
  );
});

test('the CONNECT request: authority-form target and Host, Basic credentials when given', () => {
  assert.equal(
    connectRequest('relay.example', 443, {}),
    'CONNECT relay.example:443 HTTP/1.1\r\nHost: relay.example:443\r\n\r\n',
  );
  assert.equal(
    connectRequest('2001:db8::2', 8080, {}),
    'CONNECT [2001:db8::2]:8080 HTTP/1.1\r\nHost: [2001:db8::2]:8080\r\n\r\n',
  );
  const withAuth = connectRequest('198.51.100.2', 8443, { username: 'alice', password: 'p:ss é' });
  const basic = /\r\nProxy-Authorization: Basic ([A-Za-z0-9+/=]+)\r\n\r\n$/.exec(withAuth);
  assert.ok(basic, withAuth);
  assert.equal(Buffer.from(basic[1]!, 'base64').toString('utf8'), 'alice:p:ss é');
});

const SQUID_OK = 'HTTP/1.1 200 Connection established\r\n\r\n';
const WITH_HEADERS =
  'HTTP/1.0 407 Proxy Authentication Required\r\nServer: squid/5.7\r\nProxy-Authenticate: Basic realm="x"\r\n' +
  'Content-Length: 0\r\nX-Empty:\r\n\r\n';

test('parsing the answer: status, reason, headers, the length of the head', () => {
  const ok = parseConnectResponse(Buffer.from(SQUID_OK));
  assert.deepEqual(ok, { status: 200, reason: 'Connection established', headers: new Map(), headLength: 39 });
  const refused = parseConnectResponse(Buffer.from(WITH_HEADERS))!;
  assert.equal(refused.status, 407);
  assert.equal(refused.reason, 'Proxy Authentication Required');
  assert.equal(refused.headers.get('proxy-authenticate'), 'Basic realm="x"');
  assert.equal(refused.headers.get('x-empty'), '');
  assert.equal(refused.headLength, WITH_HEADERS.length);
  // No reason phrase at all; bare LF line ends.
  assert.equal(parseConnectResponse(Buffer.from('HTTP/1.1 200\r\n\r\n'))!.reason, '');
  assert.equal(parseConnectResponse(Buffer.from('HTTP/1.1 200 OK\nVia: x\n\n'))!.headLength, 24);
  // What follows the head is not parsed (it belongs to the tunnel), even if it looks like a head.
  const followed = Buffer.from(`${SQUID_OK}\x16\x03\x01HTTP/1.1 500 no\r\n\r\n`);
  assert.equal(parseConnectResponse(followed)!.headLength, SQUID_OK.length);
});

test('parsing the answer split at every byte: null until the empty line, then the same answer', () => {
  for (const text of [SQUID_OK, WITH_HEADERS, 'HTTP/1.1 200 OK\nA: b\n\n']) {
    const whole = parseConnectResponse(Buffer.from(text));
    for (let cut = 0; cut < text.length; cut++)
      assert.equal(
        parseConnectResponse(Buffer.from(text.slice(0, cut))),
        null,
        `${JSON.stringify(text)} cut at ${cut}`,
      );
    assert.deepEqual(parseConnectResponse(Buffer.from(text)), whole);
  }
});

test('parsing the answer: malformed or oversized heads are refused', () => {
  for (const [text, problem] of [
    ['SSH-2.0-OpenSSH_9.2\r\n\r\n', /did not answer HTTP/],
    ['HTTP/2 200\r\n\r\n', /did not answer HTTP/],
    ['HTTP/1.1 20 OK\r\n\r\n', /did not answer HTTP/],
    ['HTTP/1.1 200 OK\r\nno colon here\r\n\r\n', /malformed header/],
    ['HTTP/1.1 200 OK\r\n: no name\r\n\r\n', /malformed header/],
    ['HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n', /malformed header/],
    ['HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n', /malformed header/],
  ] as const) {
    assert.throws(
      () => parseConnectResponse(Buffer.from(text)),
      (error: Error) => error instanceof ProxyError && problem.test(error.message),
      text,
    );
  }
  // Endless headers: refused once past the bound, complete or not.
  const endless = Buffer.from(`HTTP/1.1 200 OK\r\n${'X-Pad: 0123456789\r\n'.repeat(2000)}`);
  assert.ok(endless.length > MAX_RESPONSE_HEAD);
  assert.throws(() => parseConnectResponse(endless), /longer than 16384 bytes/);
  assert.throws(
    () => parseConnectResponse(Buffer.from(`${endless.toString()}\r\n`)),
    /longer than 16384 bytes/,
  );
  assert.equal(parseConnectResponse(endless.subarray(0, MAX_RESPONSE_HEAD)), null);
});

/** A scripted proxy on loopback: `serve` gets each connection and the request it sent. */
async function scriptedProxy(
  serve: (socket: Socket, request: string) => void,
): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => {
    socket.on('error', () => {});
    let request = '';
    socket.on('data', function onData(chunk) {
      request += chunk.toString('latin1');
      if (!request.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      serve(socket, request);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

async function through(
  serve: (socket: Socket, request: string) => void,
  options: { timeoutMs?: number; username?: string; password?: string } = {},
): Promise<{ result: Buffer | Error; socket: Socket }> {
  const { server, port } = await scriptedProxy(serve);
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.on('error', () => {});
  const proxy =
    options.username === undefined ? {} : { username: options.username, password: options.password };
  const result = await httpConnect(socket, {
    host: '198.51.100.2',
    port: 8443,
    proxy,
    timeoutMs: options.timeoutMs ?? 2000,
  }).catch((error: Error) => error);
  server.close();
  return { result, socket };
}

test('httpConnect: a 200 hands over the socket with the bytes that followed the head', async () => {
  let seen = '';
  const { result, socket } = await through(
    (proxy, request) => {
      seen = request;
      // The answer in pieces, and the first bytes of the tunnel in the same write as its end.
      proxy.write('HTTP/1.1 200 Conn');
      setTimeout(() => proxy.write('ection established\r\nVia: 1.1 test\r\n\r\nFIRST'), 20);
      setTimeout(() => proxy.write('SECOND'), 200);
    },
    { username: 'alice', password: 'pw' },
  );
  assert.equal(
    seen,
    'CONNECT 198.51.100.2:8443 HTTP/1.1\r\nHost: 198.51.100.2:8443\r\n' +
      `Proxy-Authorization: Basic ${Buffer.from('alice:pw').toString('base64')}\r\n\r\n`,
  );
  assert.ok(Buffer.isBuffer(result), String(result));
  assert.equal(result.toString(), 'FIRST');
  // Paused and ours: nothing is lost until the new owner reads.
  assert.equal(socket.isPaused(), true);
  assert.equal(socket.listenerCount('data'), 0);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const rest = await new Promise<string>((resolve) => {
    socket.once('data', (chunk) => resolve(chunk.toString()));
    socket.resume();
  });
  assert.equal(rest, 'SECOND');
  socket.destroy();
});

test('httpConnect: a refusal is a ProxyError with the status; the socket is destroyed', async () => {
  const { result, socket } = await through((proxy) => proxy.end(WITH_HEADERS));
  assert.ok(result instanceof ProxyError);
  assert.equal(result.status, 407);
  assert.equal(result.message, 'proxy answered 407 (Proxy Authentication Required)');
  assert.equal(socket.destroyed, true);
});

test('httpConnect: silence, a close, garbage and endless headers each end in a ProxyError', async () => {
  const cases: [(proxy: Socket) => void, RegExp][] = [
    [() => {}, /did not answer CONNECT within 0.3 s/],
    [(proxy) => proxy.end(), /closed the connection without answering/],
    [(proxy) => proxy.destroy(), /closed the connection without answering|proxy connection failed/],
    [(proxy) => proxy.write('\x16\x03\x01\x00\x05hello\r\n\r\n'), /did not answer HTTP/],
    [
      (proxy) => {
        proxy.write('HTTP/1.1 200 OK\r\n');
        const pad = setInterval(() => {
          if (proxy.destroyed) clearInterval(pad);
          else proxy.write('X-Pad: 01234567890123456789\r\n'.repeat(50));
        }, 5);
      },
      /longer than 16384 bytes/,
    ],
  ];
  for (const [serve, problem] of cases) {
    const { result, socket } = await through(serve, { timeoutMs: 300 });
    assert.ok(result instanceof ProxyError, String(result));
    assert.match(result.message, problem);
    assert.equal(socket.destroyed, true);
  }
});
