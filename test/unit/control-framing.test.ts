// The control API's framing and schemas, without a socket.

import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { test } from 'node:test';
import { parseConfig } from '../../shared/src/config/parse.ts';
import { encodeFrame, FrameDecoder, FrameTooLargeError } from '../../shared/src/control/framing.ts';
import {
  HelperEvent,
  MAX_FRAME_BYTES,
  methods,
  PublicTunnelConfig,
  toPublicConfig,
  TunnelName,
} from '../../shared/src/control/protocol.ts';

const decodeAll = (decoder: FrameDecoder, chunks: Buffer[]) =>
  chunks.flatMap((chunk) => decoder.push(chunk)).map((body) => JSON.parse(body.toString('utf8')) as unknown);

test('a frame is a big-endian byte length, then UTF-8 JSON', () => {
  const frame = encodeFrame({ name: 'ü' });
  assert.equal(frame.readUInt32BE(0), 13); // {"name":"ü"} is 12 characters, 13 bytes
  assert.equal(frame.subarray(4).toString('utf8'), '{"name":"ü"}');
});

test('frames split anywhere, even byte by byte, come out whole and in order', () => {
  const values = [{ a: 1 }, 'x'.repeat(70_000), [1, 2, 3], null, { nested: { é: '✓' } }];
  const stream = Buffer.concat(values.map(encodeFrame));
  const oneByOne = [...stream].map((byte) => Buffer.from([byte]));
  assert.deepEqual(decodeAll(new FrameDecoder(), oneByOne), values);
  for (let round = 0; round < 50; round++) {
    const chunks: Buffer[] = [];
    for (let at = 0; at < stream.length;) {
      const size = randomInt(1, 20_000);
      chunks.push(stream.subarray(at, at + size));
      at += size;
    }
    assert.deepEqual(decodeAll(new FrameDecoder(), chunks), values);
  }
});

test('coalesced frames in one chunk all come out, and a partial one waits for its rest', () => {
  const decoder = new FrameDecoder();
  const stream = Buffer.concat([encodeFrame(1), encodeFrame(2), encodeFrame('three')]);
  assert.deepEqual(decodeAll(decoder, [stream.subarray(0, stream.length - 3)]), [1, 2]);
  assert.equal(decoder.pendingBytes, 8); // the header and 4 of the 7 bytes of "three"
  assert.deepEqual(decodeAll(decoder, [stream.subarray(stream.length - 3)]), ['three']);
  assert.equal(decoder.pendingBytes, 0);
});

test('an empty frame is a frame (whose body the server then refuses as not JSON)', () => {
  const decoder = new FrameDecoder();
  const bodies = decoder.push(Buffer.concat([Buffer.alloc(4), encodeFrame(7)]));
  assert.deepEqual(
    bodies.map((body) => body.length),
    [0, 1],
  );
});

test('a frame of exactly MAX_FRAME_BYTES passes; one byte more is refused at its header', () => {
  const largest = 'y'.repeat(MAX_FRAME_BYTES - 2); // the quotes make it MAX_FRAME_BYTES
  const decoder = new FrameDecoder();
  assert.deepEqual(decodeAll(decoder, [encodeFrame(largest)]), [largest]);
  assert.throws(() => encodeFrame(largest + 'y'), FrameTooLargeError);

  const header = Buffer.alloc(4);
  header.writeUInt32BE(MAX_FRAME_BYTES + 1);
  const before = encodeFrame('before');
  const bodies = decoder.push(Buffer.concat([before, header, Buffer.alloc(100)]));
  assert.deepEqual(
    bodies.map((body) => body.toString()),
    ['"before"'],
  );
  assert.ok(decoder.error instanceof FrameTooLargeError);
  assert.equal(decoder.error.bytes, MAX_FRAME_BYTES + 1);
  // Nothing of the oversized frame is kept, and nothing after it is decoded.
  assert.equal(decoder.pendingBytes, 0);
  assert.deepEqual(decoder.push(encodeFrame('after')), []);
});

test('a 4 GiB length prefix is refused without allocating it', () => {
  const decoder = new FrameDecoder();
  const before = process.memoryUsage().arrayBuffers;
  decoder.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
  assert.equal(decoder.error?.bytes, 0xffffffff);
  assert.ok(process.memoryUsage().arrayBuffers - before < 1024 * 1024);
});

test('tunnel names follow wg-quick: 1-15 of [a-zA-Z0-9_=+.-]', () => {
  for (const name of ['wg0', 'a', 'a-b_c=d+e.f', 'x'.repeat(15), 'mullvad-se9'])
    assert.ok(TunnelName.safeParse(name).success, name);
  for (const name of ['', 'x'.repeat(16), 'wg 0', 'wg/0', '../etc', '.', '..', 'wgé', 'a\n', 'wg0\0'])
    assert.ok(!TunnelName.safeParse(name).success, JSON.stringify(name));
});

test('params schemas accept the documented shapes and refuse the rest', () => {
  const accepts = (method: keyof typeof methods, params: unknown) =>
    methods[method].params.safeParse(params).success;
  assert.ok(accepts('hello', { protocolVersion: 1, client: 'cli' }));
  assert.ok(!accepts('hello', { protocolVersion: '1', client: 'cli' }));
  assert.ok(accepts('tunnels.list', {}));
  assert.ok(!accepts('tunnels.list', { extra: 1 }), 'params objects are strict');
  assert.ok(accepts('tunnels.import', { name: 'wg0', text: '[Interface]\n' }));
  assert.ok(!accepts('tunnels.import', { name: 'wg0', text: 'x'.repeat(256 * 1024 + 1) }));
  assert.ok(!accepts('tunnels.import', { name: 'wg0' }));
  assert.ok(accepts('tunnels.rename', { name: 'wg0', newName: 'home' }));
  assert.ok(!accepts('tunnels.rename', { name: 'wg0', newName: 'a name with spaces' }));
  assert.ok(accepts('tunnels.export', { name: 'wg0' }));
  assert.ok(accepts('tunnels.export', { name: 'wg0', includePrivateKey: true }));
  assert.ok(!accepts('tunnels.export', { name: 'wg0', includePrivateKey: 'yes' }));
  assert.ok(accepts('tunnels.disconnect', {}));
  assert.ok(accepts('settings.set', { killSwitch: true }));
  assert.ok(accepts('settings.set', { autoConnect: null, metricsPort: 9586 }));
  assert.ok(!accepts('settings.set', { metricsPort: 0 }));
  assert.ok(!accepts('settings.set', { killswitch: true }));
  assert.ok(accepts('logs.tail', { lines: 10000 }));
  assert.ok(!accepts('logs.tail', { lines: 0 }));
  assert.ok(!accepts('logs.tail', { lines: 10001 }));
  assert.ok(!accepts('logs.tail', { lines: 1.5 }));
});

test('events are a union on `type`', () => {
  assert.ok(HelperEvent.safeParse({ type: 'tunnels-changed' }).success);
  const line = { time: 1, level: 'info', source: 'helper', message: 'up' };
  assert.ok(HelperEvent.safeParse({ type: 'log', line }).success);
  assert.ok(!HelperEvent.safeParse({ type: 'log', line: { ...line, level: 'loud' } }).success);
  assert.ok(!HelperEvent.safeParse({ type: 'reboot' }).success);
});

test('a public configuration carries no secret, even when a handler passes one along', () => {
  const PRIVATE = 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=';
  const PSK = 'HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=';
  const config = parseConfig(
    [
      '[Interface]',
      `PrivateKey = ${PRIVATE}`,
      'Address = 10.0.0.2/32',
      '[Peer]',
      'PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=',
      `PresharedKey = ${PSK}`,
      'AllowedIPs = 10.0.0.0/24',
      'Endpoint = 192.0.2.1:51820',
    ].join('\n'),
  );
  const shown = toPublicConfig(config, 'HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=');
  assert.equal(shown.peers[0]!.hasPresharedKey, true);
  assert.deepEqual(shown.peers[0]!.endpoint, { host: '192.0.2.1', port: 51820 });
  const text = JSON.stringify(PublicTunnelConfig.parse(shown));
  assert.ok(!text.includes(PRIVATE) && !text.includes('privateKey') && !text.includes('presharedKey'));

  // What the helper does with every result: fields the schema does not name are dropped.
  const leaky = { ...shown, interface: { ...shown.interface, privateKey: PRIVATE } };
  assert.ok(!JSON.stringify(PublicTunnelConfig.parse(leaky)).includes(PRIVATE));
});
