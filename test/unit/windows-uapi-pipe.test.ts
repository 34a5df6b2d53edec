// The Windows UAPI pipe's pure parts, on any OS: its path and security descriptor (wireguard-go's),
// who is admitted, and the admission at a client's first bytes, driven here with a mock pipe
// connection (an in-memory Duplex) and a mock identifyClient. The pipe itself (CreateNamedPipeW, the
// completion port, the token) has never run: that needs Windows.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { UAPI_PIPE_SDDL } from '../../helper/src/control/pipe-sddl_windows.ts';
import {
  admitAtFirstBytes,
  uapiClientAllowed,
  uapiPipePath,
  type UapiClient,
} from '../../helper/src/uapi/pipe_windows.ts';

test("the UAPI pipe's path and security descriptor are wireguard-go's", () => {
  // ipc/uapi_windows.go: `\\.\pipe\ProtectedPrefix\Administrators\WireGuard\` + name, and
  // SecurityDescriptorFromString("O:SYD:P(A;;GA;;;SY)(A;;GA;;;BA)").
  assert.equal(uapiPipePath('wg0'), '\\\\.\\pipe\\ProtectedPrefix\\Administrators\\WireGuard\\wg0');
  assert.equal(UAPI_PIPE_SDDL, 'O:SYD:P(A;;GA;;;SY)(A;;GA;;;BA)');
  // Nothing for Everyone (WD), Authenticated Users (AU), Users (BU) or the network (NU).
  for (const trustee of ['WD', 'AU', 'BU', 'NU']) assert.ok(!UAPI_PIPE_SDDL.includes(`;;;${trustee})`));
  assert.ok(UAPI_PIPE_SDDL.includes('D:P'), 'protected: nothing inherited');
  assert.equal(uapiClientAllowed({ isAdmin: true }), true);
  assert.equal(uapiClientAllowed({ isAdmin: false }), false);
});

/** A mock PipeConnection: what the client sends is pushed in; what the server writes is collected. */
function mockPipeConnection() {
  const written: Buffer[] = [];
  const connection = new Duplex({
    allowHalfOpen: true,
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      written.push(Buffer.from(chunk));
      callback();
    },
  });
  return { connection, written };
}

const ADMIN: UapiClient = { sid: 'S-1-5-21-1-2-3-500', pid: 42, isAdmin: true };
const USER: UapiClient = { sid: 'S-1-5-21-1-2-3-1001', pid: 43, isAdmin: false };

async function readAll(stream: Duplex): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}

test('with a mock pipe connection and a mock identifyClient: an administrator gets the UAPI stream, first bytes first', async () => {
  const { connection } = mockPipeConnection();
  const identified: number[] = [];
  const handed = new Promise<Duplex>((resolve) =>
    admitAtFirstBytes(
      connection,
      () => {
        identified.push(connection.readableLength);
        return ADMIN;
      },
      resolve,
      () => assert.fail('nothing to log'),
    ),
  );
  assert.deepEqual(identified, [], 'not identified before the client has written');
  connection.push('get=1\n');
  const stream = await handed;
  assert.equal(identified.length, 1);
  connection.push('\n');
  connection.push(null);
  assert.equal(await readAll(stream), 'get=1\n\n', 'the first bytes are put back in front');
});

test('with a mock pipe connection and a mock identifyClient: others are closed, unidentified or silent ones too', async () => {
  const cases: { name: string; identify: () => UapiClient; send: boolean; log: RegExp | null }[] = [
    {
      name: 'a standard user',
      identify: () => USER,
      send: true,
      log: /refused S-1-5-21-1-2-3-1001 \(pid 43\)/,
    },
    {
      name: 'a client whose token cannot be read',
      identify: () => {
        throw new Error('access denied');
      },
      send: true,
      log: /cannot check a client, closing it: access denied/,
    },
    { name: 'a client that leaves without a word', identify: () => ADMIN, send: false, log: null },
  ];
  for (const { name, identify, send, log } of cases) {
    const { connection } = mockPipeConnection();
    const logged: string[] = [];
    admitAtFirstBytes(
      connection,
      identify,
      () => assert.fail(`${name} was admitted`),
      (line) => logged.push(line),
    );
    const closed = new Promise((resolve) => connection.once('close', resolve));
    if (send) connection.push('set=1\nprivate_key=00\n\n');
    connection.push(null);
    await closed;
    assert.ok(connection.destroyed, `${name}: closed`);
    if (log) assert.match(logged.join('\n'), log, name);
    else assert.deepEqual(logged, [], name);
  }
});
