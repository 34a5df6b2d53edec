// sdNotify against a real AF_UNIX datagram socket, bound by Python the way systemd binds its own:
// at a path and under an abstract name.

import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, afterEach, test } from 'node:test';
import { PhantomError } from '../../shared/src/errors.ts';
import { sdNotify } from '../../helper/src/service/sd-notify.ts';

// Binds argv[1] ("@name" for an abstract socket), says "ready", then prints each datagram in hex.
const RECEIVER = `
import socket, sys
address = sys.argv[1]
if address.startswith('@'):
    address = '\\0' + address[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(address)
print('ready', flush=True)
while True:
    print(s.recv(65536).hex(), flush=True)
`;

interface Receiver {
  next(): Promise<string>;
  stop(): Promise<void>;
}

async function receiver(address: string): Promise<Receiver> {
  const child: ChildProcessWithoutNullStreams = spawn('python3', ['-c', RECEIVER, address]);
  const lines = createInterface({ input: child.stdout });
  const queue: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => {
    const waiter = waiting.shift();
    if (waiter) waiter(line);
    else queue.push(line);
  });
  const next = (): Promise<string> =>
    queue.length > 0
      ? Promise.resolve(queue.shift()!)
      : Promise.race([
          new Promise<string>((resolve) => waiting.push(resolve)),
          new Promise<never>((_, reject) =>
            setTimeout(() => reject(new Error('nothing received within 2 s')), 2000).unref(),
          ),
        ]);
  assert.equal(await next(), 'ready');
  return {
    next: async () => Buffer.from(await next(), 'hex').toString(),
    stop: async () => {
      child.kill();
      await once(child, 'exit');
    },
  };
}

const dir = mkdtempSync(join(tmpdir(), 'phantommesh-notify-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const saved = process.env.NOTIFY_SOCKET;
afterEach(() => {
  if (saved === undefined) delete process.env.NOTIFY_SOCKET;
  else process.env.NOTIFY_SOCKET = saved;
});

function errorOf(run: () => unknown): PhantomError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof PhantomError, `not a PhantomError: ${String(error)}`);
    return error;
  }
  throw new Error('did not fail');
}

test('without NOTIFY_SOCKET nothing is sent and the answer is false', () => {
  delete process.env.NOTIFY_SOCKET;
  assert.equal(sdNotify('READY=1'), false);
  process.env.NOTIFY_SOCKET = '';
  assert.equal(sdNotify('READY=1'), false);
});

test('states reach a socket bound at a path', async () => {
  const path = join(dir, 'notify');
  const socket = await receiver(path);
  try {
    process.env.NOTIFY_SOCKET = path;
    assert.equal(sdNotify('READY=1'), true);
    assert.equal(await socket.next(), 'READY=1');
    assert.equal(sdNotify('STATUS=2 tunnels up\nSTOPPING=1'), true);
    assert.equal(await socket.next(), 'STATUS=2 tunnels up\nSTOPPING=1');
  } finally {
    await socket.stop();
  }
});

test('states reach an abstract socket ("@name")', async () => {
  const address = `@phantommesh-notify-${process.pid}-${Date.now()}`;
  const socket = await receiver(address);
  try {
    process.env.NOTIFY_SOCKET = address;
    // Abstract names are compared with their exact length: a trailing NUL would name another socket.
    assert.equal(sdNotify('READY=1'), true);
    assert.equal(await socket.next(), 'READY=1');
  } finally {
    await socket.stop();
  }
});

test('a socket nobody listens on, or an unusable address, is an error', () => {
  process.env.NOTIFY_SOCKET = join(dir, 'nobody');
  const missing = errorOf(() => sdNotify('READY=1'));
  assert.equal(missing.code, 'SD_NOTIFY_FAILED');
  assert.match(missing.message, /nobody: No such file or directory/);

  process.env.NOTIFY_SOCKET = 'relative/notify';
  assert.match(errorOf(() => sdNotify('READY=1')).message, /neither an absolute path nor an abstract/);

  process.env.NOTIFY_SOCKET = '/' + 'x'.repeat(108);
  assert.match(errorOf(() => sdNotify('READY=1')).message, /longer than 108 bytes/);
});
