// The control pipe's server check of the Windows clients (shared/src/control/pipe-server-check.ts),
// on Linux: the decision from what Windows would say (the SID compared with LocalSystem's, the SCM's
// word when the token cannot be read), and openCheckedPipe and connectHelper's `openVerified` hook
// with MOCK natives: a Unix socket to a fake helper stands in for the pipe handle. No Windows call
// runs here; the koffi side (helper/src/control/pipe-server-check_windows.ts,
// app/main/pipe-server-check_windows.ts) is only type-checked.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { connectHelper } from '../../shared/src/control/client.ts';
import { encodeFrame, FrameDecoder } from '../../shared/src/control/framing.ts';
import {
  HELPER_SERVICE_NAME,
  isLocalSystemAccount,
  isLocalSystemSid,
  judgePipeServer,
  LOCAL_SYSTEM_SID,
  openCheckedPipe,
  type PipeNatives,
  type ProcessUser,
  type ServiceProcess,
} from '../../shared/src/control/pipe-server-check.ts';
import { PROTOCOL_VERSION } from '../../shared/src/control/protocol.ts';
import { PhantomError } from '../../shared/src/errors.ts';

const USER_SID = 'S-1-5-21-1004336348-1177238915-682003330-1001';
const noService = () => assert.fail('the SCM is asked only when the token cannot be read');

test('the SID comparison: LocalSystem is S-1-5-18 exactly', () => {
  assert.equal(LOCAL_SYSTEM_SID, 'S-1-5-18');
  assert.ok(isLocalSystemSid('S-1-5-18'));
  assert.ok(isLocalSystemSid('s-1-5-18'));
  for (const other of ['S-1-5-19', 'S-1-5-20', 'S-1-5-32-544', 'S-1-5-18-1', 'S-1-5-180', USER_SID, ''])
    assert.ok(!isLocalSystemSid(other), other);
  assert.ok(isLocalSystemAccount('LocalSystem'));
  assert.ok(isLocalSystemAccount('.\\LocalSystem'));
  assert.ok(isLocalSystemAccount('NT AUTHORITY\\SYSTEM'));
  assert.ok(!isLocalSystemAccount('NT AUTHORITY\\LocalService'));
  assert.ok(!isLocalSystemAccount('.\\mallory'));
});

test('a server whose token says LocalSystem is trusted; any other user is refused, named', () => {
  assert.equal(judgePipeServer(4242, { sid: 'S-1-5-18' }, noService), null);
  assert.match(
    judgePipeServer(4242, { sid: USER_SID }, noService)!,
    new RegExp(`process 4242\\) runs as ${USER_SID}, not as LocalSystem \\(S-1-5-18\\)`),
  );
  assert.match(judgePipeServer(4242, { sid: 'S-1-5-32-544' }, noService)!, /not as LocalSystem/);
  assert.match(judgePipeServer(0, { sid: 'S-1-5-18' }, noService)!, /did not name the pipe's server/);
});

test("an unreadable token: the SCM vouches only for the service's own LocalSystem process", () => {
  const unreadable: ProcessUser = { unreadable: 'OpenProcessToken: Access is denied. (0x5)' };
  const service =
    (pid: number, account = 'LocalSystem') =>
    (): ServiceProcess => ({ pid, account });
  assert.equal(judgePipeServer(4242, unreadable, service(4242)), null);
  assert.equal(judgePipeServer(4242, unreadable, service(4242, 'NT AUTHORITY\\SYSTEM')), null);
  // A member's own server: another process than the service's.
  const other = judgePipeServer(6666, unreadable, service(4242))!;
  assert.match(other, new RegExp(`process 6666, not the ${HELPER_SERVICE_NAME} service \\(process 4242\\)`));
  assert.match(other, /Access is denied/);
  assert.match(
    judgePipeServer(4242, unreadable, () => null)!,
    /service is not running/,
  );
  assert.match(judgePipeServer(4242, unreadable, service(4242, '.\\mallory'))!, /runs as \.\\mallory/);
});

// ---- openCheckedPipe and connectHelper, with a MOCK pipe: a Unix socket to a fake helper

const dir = mkdtempSync(join(tmpdir(), 'phantommesh-pipe-check-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface FakeHelper {
  server: Server;
  path: string;
  /** Bytes each connection received, in order of connection; `closed` once it ended. */
  connections: { received: Buffer[]; closed: boolean }[];
}

/** A fake helper that answers hello (and nothing else) on a Unix socket. */
async function fakeHelper(name: string): Promise<FakeHelper> {
  const path = join(dir, name);
  const connections: FakeHelper['connections'] = [];
  const server = createServer((socket) => {
    const record = { received: [] as Buffer[], closed: false };
    connections.push(record);
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      record.received.push(chunk);
      for (const body of decoder.push(chunk)) {
        const message = JSON.parse(body.toString('utf8')) as { id: number; method: string };
        if (message.method === 'hello')
          socket.write(
            encodeFrame({
              jsonrpc: '2.0',
              id: message.id,
              result: { protocolVersion: PROTOCOL_VERSION, helperVersion: 'fake' },
            }),
          );
      }
    });
    socket.on('close', () => (record.closed = true));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  after(() => server.close());
  return { server, path, connections };
}

function connectTo(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** MOCK natives over a Unix socket: the "handle" is the socket, its server's identity is given. */
function mockNatives(
  realPath: string,
  server: { pid: number; user: ProcessUser; service?: ServiceProcess | null },
  calls: string[],
): PipeNatives<Socket, Socket> {
  return {
    open: async () => {
      calls.push('open');
      return connectTo(realPath);
    },
    serverProcessId: () => {
      calls.push('serverProcessId');
      return server.pid;
    },
    processUser: (pid) => {
      calls.push(`processUser ${pid}`);
      return server.user;
    },
    helperService: () => {
      calls.push('helperService');
      return server.service ?? null;
    },
    close: (socket) => {
      calls.push('close');
      socket.destroy();
    },
    adopt: (socket) => {
      calls.push('adopt');
      return socket;
    },
  };
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await sleep(5);
  assert.ok(condition(), 'timed out');
}

test('connectHelper with a mock openVerified hook: the hook runs (and finishes) before hello is sent', async () => {
  const helper = await fakeHelper('hook-first.sock');
  const log: string[] = [];
  const client = await connectHelper({
    // Not a file: with the hook, connectHelper does not check the path as a Unix socket (a pipe is none).
    socketPath: '\\\\.\\pipe\\phantommesh',
    client: 'test',
    openVerified: async (path) => {
      assert.equal(path, '\\\\.\\pipe\\phantommesh');
      const socket = await connectTo(helper.path);
      log.push('hook: connected');
      // Connected, still checking: nothing may have been sent yet.
      await sleep(30);
      assert.equal(helper.connections[0]!.received.length, 0);
      log.push('hook: verified');
      return socket;
    },
  });
  await until(() => helper.connections[0]!.received.length > 0);
  log.push('helper: got hello');
  assert.deepEqual(log, ['hook: connected', 'hook: verified', 'helper: got hello']);
  client.close();
});

test('a mock server running as a user: refused before anything is sent, its connection closed', async () => {
  const helper = await fakeHelper('impostor.sock');
  const calls: string[] = [];
  const natives = mockNatives(helper.path, { pid: 6666, user: { sid: USER_SID } }, calls);
  await assert.rejects(
    connectHelper({
      socketPath: '\\\\.\\pipe\\phantommesh',
      client: 'test',
      openVerified: (path) => openCheckedPipe(path, natives),
    }),
    (error: unknown) =>
      error instanceof PhantomError &&
      error.code === 'HELPER_UNTRUSTED' &&
      /\\\\\.\\pipe\\phantommesh is not served by the PhantomMesh helper: its server \(process 6666\) runs as S-1-5-21-/.test(
        error.message,
      ),
  );
  assert.deepEqual(calls, ['open', 'serverProcessId', 'processUser 6666', 'close']);
  await until(() => helper.connections.length === 1 && helper.connections[0]!.closed);
  assert.deepEqual(helper.connections[0]!.received, []);
});

test('a mock LocalSystem server, and a mock service vouched for by the SCM: adopted, hello answered', async () => {
  const helper = await fakeHelper('system.sock');
  for (const server of [
    { pid: 4242, user: { sid: 'S-1-5-18' } },
    { pid: 4242, user: { unreadable: 'access denied' }, service: { pid: 4242, account: 'LocalSystem' } },
  ]) {
    const calls: string[] = [];
    const natives = mockNatives(helper.path, server, calls);
    const client = await connectHelper({
      socketPath: '\\\\.\\pipe\\phantommesh',
      client: 'test',
      openVerified: (path) => openCheckedPipe(path, natives),
    });
    assert.deepEqual(
      calls,
      'service' in server
        ? ['open', 'serverProcessId', 'processUser 4242', 'helperService', 'adopt']
        : ['open', 'serverProcessId', 'processUser 4242', 'adopt'],
    );
    client.close();
  }
});

test('a mock native that throws mid-check closes the handle and passes the error on', async () => {
  const helper = await fakeHelper('throws.sock');
  const calls: string[] = [];
  const natives = mockNatives(helper.path, { pid: 1, user: { sid: 'S-1-5-18' } }, calls);
  natives.serverProcessId = () => {
    calls.push('serverProcessId');
    throw new Error('GetNamedPipeServerProcessId exploded');
  };
  await assert.rejects(openCheckedPipe('\\\\.\\pipe\\phantommesh', natives), /exploded/);
  assert.deepEqual(calls, ['open', 'serverProcessId', 'close']);
});

test('without the hook nothing changes: the socket file is checked as before', async () => {
  await assert.rejects(
    connectHelper({ socketPath: join(dir, 'missing.sock'), client: 'test' }),
    (error: unknown) => error instanceof PhantomError && error.code === 'HELPER_UNAVAILABLE',
  );
});
