// Each tunnel's stored transport as the helper shows it (tunnels.transport.get): no key, no proxy
// password, only the certificates' subjects. Loaded when a tunnel's detail is shown, and replaced by
// the answer of transport.set.

import { create } from 'zustand';
import type { PublicTransport } from '../../../../shared/src/control/protocol.ts';
import type { TransportFileKind, TransportRequest } from '../../../../shared/src/ipc/schema.ts';
import { failure, invoke, sentence } from '../api.ts';
import type { PickedFile } from '../lib/transport.ts';

export interface TransportsState {
  transports: Record<string, PublicTransport>;
  /** Why a tunnel's transport could not be loaded, for people. */
  errors: Record<string, string>;
}

export const useTransports = create<TransportsState>()(() => ({ transports: {}, errors: {} }));

function without<T>(record: Record<string, T>, key: string): Record<string, T> {
  return Object.fromEntries(Object.entries(record).filter(([name]) => name !== key));
}

function received(name: string, transport: PublicTransport): void {
  useTransports.setState((state) => ({
    transports: { ...state.transports, [name]: transport },
    errors: without(state.errors, name),
  }));
}

export async function loadTransport(name: string): Promise<void> {
  try {
    received(name, await invoke('tunnels.transport.get', { name }));
  } catch (error) {
    const message = sentence(failure(error).message);
    useTransports.setState((state) => ({ errors: { ...state.errors, [name]: message } }));
  }
}

/** Sets a tunnel's transport; a failure is thrown, for the dialog to show. */
export async function setTransport(request: TransportRequest): Promise<PublicTransport> {
  const transport = await invoke('transport.set', request);
  received(request.name, transport);
  return transport;
}

/**
 * Asks the app to let the user pick a certificate, key or CA file: the app reads it and answers with a
 * token and the file's name (null when cancelled). A failure is thrown, for the dialog to show.
 */
export function pickTransportFile(kind: TransportFileKind): Promise<PickedFile | null> {
  return invoke('transport.pickFile', { kind });
}
