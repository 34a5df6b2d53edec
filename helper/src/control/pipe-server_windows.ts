// A named-pipe server with a security descriptor of our own (Node's net.Server on a pipe takes the
// default one and gives no handle to check a client with). Instances are created with
// CreateNamedPipeW (the first with FILE_FLAG_FIRST_PIPE_INSTANCE, so a pipe someone else made first is
// refused, not joined), overlapped, on one I/O completion port that a worker thread waits on
// (pipe-completion_windows.ts); reads, writes and connects are issued here and complete there. Each
// connection is a Duplex with the pipe's handle, so its client can be identified
// (GetNamedPipeClientProcessId, ImpersonateNamedPipeClient: peercred_windows.ts).

import { Duplex } from 'node:stream';
import { Worker } from 'node:worker_threads';
import koffi from 'koffi';
import { PhantomError } from '../../../shared/src/errors.ts';
import { advapi32, SDDL_REVISION_1 } from '../advapi32_windows.ts';
import { siblingModule } from '../sibling-module.ts';
import {
  ERROR_ACCESS_DENIED,
  ERROR_IO_PENDING,
  ERROR_PIPE_CONNECTED,
  INVALID_HANDLE_VALUE,
  kernel32,
  OVERLAPPED,
  win32Message,
  type Pointer,
} from '../kernel32_windows.ts';
import { STOP_KEY, type CompletionMessage } from './pipe-completion_windows.ts';

const COMPLETION_URL = new URL(siblingModule('./pipe-completion_windows', import.meta.url));
const PIPE_ACCESS_DUPLEX = 0x3;
const FILE_FLAG_FIRST_PIPE_INSTANCE = 0x80000;
const FILE_FLAG_OVERLAPPED = 0x40000000;
const PIPE_TYPE_BYTE = 0;
const PIPE_READMODE_BYTE = 0;
const PIPE_WAIT = 0;
const PIPE_REJECT_REMOTE_CLIENTS = 0x8;
const PIPE_UNLIMITED_INSTANCES = 255;
const BUFFER_BYTES = 64 * 1024;

type Completion = (bytes: number, error: number) => void;

/** One connected client: the stream the session reads and writes, and the pipe's handle. */
export class PipeConnection extends Duplex {
  readonly handle: Pointer;
  #server: PipeServerState;
  #readBuffer = Buffer.alloc(BUFFER_BYTES);
  #readOverlapped = koffi.alloc(OVERLAPPED, 1) as Pointer;
  #writeOverlapped = koffi.alloc(OVERLAPPED, 1) as Pointer;
  #pending = 0;
  #reading = false;
  #closing = false;
  #writing: Buffer | null = null;

  constructor(handle: Pointer, server: PipeServerState) {
    super({ allowHalfOpen: true });
    this.handle = handle;
    this.#server = server;
  }

  override _read(): void {
    if (this.#reading || this.#closing) return;
    this.#reading = true;
    koffi.encode(this.#readOverlapped, OVERLAPPED, {});
    this.#issue(
      this.#readOverlapped,
      (bytes, error) => {
        this.#reading = false;
        if (error !== 0 || bytes === 0) {
          this.push(null);
          return;
        }
        if (this.push(Buffer.from(this.#readBuffer.subarray(0, bytes)))) this._read();
      },
      () =>
        kernel32().ReadFile(
          this.handle,
          koffi.address(this.#readBuffer),
          BUFFER_BYTES,
          0n,
          this.#readOverlapped,
        ),
    );
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#closing) return callback(new Error('the pipe is closed'));
    this.#writing = Buffer.from(chunk);
    koffi.encode(this.#writeOverlapped, OVERLAPPED, {});
    const data = this.#writing;
    this.#issue(
      this.#writeOverlapped,
      (bytes, error) => {
        this.#writing = null;
        if (error !== 0) return callback(new Error(`writing to the pipe: ${win32Message(error)}`));
        if (bytes < data.length) return this._write(data.subarray(bytes), _encoding, callback);
        callback();
      },
      () => kernel32().WriteFile(this.handle, koffi.address(data), data.length, 0n, this.#writeOverlapped),
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    callback();
    this.destroy();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#closing = true;
    if (this.#pending > 0) kernel32().CancelIoEx(this.handle, 0n);
    const release = () => {
      kernel32().DisconnectNamedPipe(this.handle);
      kernel32().CloseHandle(this.handle);
      koffi.free(this.#readOverlapped);
      koffi.free(this.#writeOverlapped);
      this.#server.connections.delete(this);
      callback(error);
    };
    // The OVERLAPPEDs are freed only once nothing the kernel may still write to is pending.
    if (this.#pending === 0) release();
    else this.#server.onIdle.set(this, release);
  }

  #issue(overlapped: Pointer, done: Completion, start: () => number): void {
    this.#pending++;
    this.#server.completions.set(overlapped, (bytes, error) => {
      this.#pending--;
      done(bytes, error);
      if (this.#pending === 0) this.#server.onIdle.get(this)?.();
    });
    // With a completion port, even an operation that completes at once queues its completion.
    if (start() === 0) {
      const error = kernel32().GetLastError();
      if (error !== ERROR_IO_PENDING) {
        this.#server.completions.delete(overlapped);
        this.#pending--;
        done(0, error);
      }
    }
  }
}

interface PipeServerState {
  completions: Map<bigint, Completion>;
  connections: Set<PipeConnection>;
  onIdle: Map<PipeConnection, () => void>;
}

export interface PipeServer {
  close(): Promise<void>;
}

/** The descriptor of `sddl` as LocalAlloc'd memory (LocalFree when done). */
function securityDescriptor(sddl: string): Pointer {
  const out = new BigUint64Array(1);
  if (!advapi32().ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, out, 0n))
    throw new PhantomError(
      'PIPE_FAILED',
      `the security descriptor ${sddl}: ${win32Message(kernel32().GetLastError())}`,
    );
  return out[0]!;
}

/** Serves `name` (\\.\pipe\...) with the security descriptor `sddl`; `onConnection` gets each client. */
export async function listenPipe(
  name: string,
  sddl: string,
  onConnection: (connection: PipeConnection) => void,
): Promise<PipeServer> {
  const k = kernel32();
  const descriptor = securityDescriptor(sddl);
  const port = k.CreateIoCompletionPort(INVALID_HANDLE_VALUE, 0n, 0n, 1);
  if (!port)
    throw new PhantomError('PIPE_FAILED', `an I/O completion port: ${win32Message(k.GetLastError())}`);
  const state: PipeServerState = { completions: new Map(), connections: new Set(), onIdle: new Map() };
  const worker = new Worker(COMPLETION_URL, { workerData: { port } });
  worker.on('message', (message: CompletionMessage) => {
    const completion = state.completions.get(message.overlapped);
    if (!completion) return;
    state.completions.delete(message.overlapped);
    completion(message.bytes, message.error);
  });
  let closing = false;
  let first = true;
  let listening: { handle: Pointer; overlapped: Pointer } | undefined;

  const listen = (): void => {
    const handle = k.CreateNamedPipeW(
      name,
      PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED | (first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0),
      PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
      PIPE_UNLIMITED_INSTANCES,
      BUFFER_BYTES,
      BUFFER_BYTES,
      0,
      { nLength: koffi.sizeof('SECURITY_ATTRIBUTES'), lpSecurityDescriptor: descriptor, bInheritHandle: 0 },
    );
    if (handle === INVALID_HANDLE_VALUE) {
      const error = k.GetLastError();
      if (first && error === ERROR_ACCESS_DENIED)
        throw new PhantomError(
          'HELPER_RUNNING',
          `${name} is already served (by another helper, or someone else)`,
        );
      throw new PhantomError('PIPE_FAILED', `creating ${name}: ${win32Message(error)}`);
    }
    first = false;
    k.CreateIoCompletionPort(handle, port, 1n, 0);
    const overlapped = koffi.alloc(OVERLAPPED, 1) as Pointer;
    koffi.encode(overlapped, OVERLAPPED, {});
    listening = { handle, overlapped };
    const connected = () => {
      koffi.free(overlapped);
      listening = undefined;
      if (closing) {
        k.CloseHandle(handle);
        return;
      }
      const connection = new PipeConnection(handle, state);
      state.connections.add(connection);
      listen();
      onConnection(connection);
    };
    if (k.ConnectNamedPipe(handle, overlapped)) return connected();
    const error = k.GetLastError();
    if (error === ERROR_PIPE_CONNECTED) return connected();
    if (error !== ERROR_IO_PENDING) {
      k.CloseHandle(handle);
      koffi.free(overlapped);
      throw new PhantomError('PIPE_FAILED', `waiting for a client on ${name}: ${win32Message(error)}`);
    }
    state.completions.set(overlapped, (_bytes, failed) => {
      if (failed === 0) return connected();
      koffi.free(overlapped);
      k.CloseHandle(handle);
      listening = undefined;
      if (!closing) setTimeout(listen, 100);
    });
  };
  listen();

  return {
    close: async () => {
      closing = true;
      if (listening) k.CancelIoEx(listening.handle, 0n);
      for (const connection of state.connections) connection.destroy();
      // Give the cancellations their completions, then stop the thread and free what is left.
      await new Promise((resolve) => setTimeout(resolve, 50));
      k.PostQueuedCompletionStatus(port, 0, STOP_KEY, 0n);
      await new Promise((resolve) => worker.once('exit', resolve));
      k.CloseHandle(port);
      k.LocalFree(descriptor);
    },
  };
}
