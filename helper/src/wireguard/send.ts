// Everything the device sends: handshake messages, transport data and keepalives, with the timer
// events and rekey checks that wireguard-go's send.go attaches to each.

import {
  MAX_STAGED_PACKETS,
  MESSAGE_TRANSPORT_HEADER_SIZE,
  MESSAGE_TRANSPORT_TYPE,
  REJECT_AFTER_MESSAGES,
  REJECT_AFTER_TIME,
  REKEY_AFTER_MESSAGES,
  REKEY_TIMEOUT,
} from './constants.ts';
import type { DeviceContext } from './context.ts';
import { TAG_SIZE } from './crypto.ts';
import { Keypair } from './keypair.ts';
import { createInitiation, createResponse, deriveSessionKeys } from './noise.ts';
import { destinationAddress, paddingSize } from './packet.ts';
import type { Peer } from './peer.ts';
import { tai64n } from './tai64n.ts';

function sendToPeer(device: DeviceContext, peer: Peer, message: Buffer): boolean {
  if (!peer.endpoint) {
    device.drop('noEndpoint');
    return false;
  }
  device.io.sendDatagram(message, peer.endpoint);
  peer.txBytes += BigInt(message.length);
  return true;
}

/** An IP packet read from the TUN: route it to its peer by destination and send or stage it. */
export function sendPacket(device: DeviceContext, packet: Buffer, now: number): void {
  const destination = destinationAddress(packet);
  if (!destination) return device.drop('notIp');
  const peer = device.allowedIps.lookup(destination);
  if (!peer) return device.drop('noRoute');
  const keypair = peer.keypairs.current;
  // The common case: nothing waits before it and the session is usable, so it goes out at once,
  // encrypted straight from the TUN's read buffer.
  if (peer.staged.length === 0 && peer.endpoint && usableKeypair(keypair, now)) {
    sendTransport(device, peer, keypair, packet, now);
    keepKeyFreshSending(device, peer, now);
    return;
  }
  // The TUN reuses its read buffer, so a packet that has to wait is copied.
  stage(device, peer, Buffer.from(packet));
  sendStagedPackets(device, peer, now);
}

function stage(device: DeviceContext, peer: Peer, packet: Buffer): void {
  if (peer.staged.length >= MAX_STAGED_PACKETS) {
    peer.staged.shift();
    device.drop('stagedOverflow');
  }
  peer.staged.push(packet);
}

/** Sends an empty transport message, unless data is waiting to go out anyway. */
export function sendKeepalive(device: DeviceContext, peer: Peer, now: number): void {
  if (peer.staged.length === 0) peer.staged.push(Buffer.alloc(0));
  sendStagedPackets(device, peer, now);
}

function usableKeypair(keypair: Keypair | null, now: number): keypair is Keypair {
  return (
    keypair !== null && keypair.sendNonce < REJECT_AFTER_MESSAGES && now - keypair.created < REJECT_AFTER_TIME
  );
}

export function sendStagedPackets(device: DeviceContext, peer: Peer, now: number): void {
  if (peer.staged.length === 0) return;
  const keypair = peer.keypairs.current;
  if (!usableKeypair(keypair, now)) {
    sendHandshakeInitiation(device, peer, false, now);
    return;
  }
  if (!peer.endpoint) return;
  const packets = peer.staged;
  peer.staged = [];
  for (const packet of packets) {
    if (keypair.sendNonce >= REJECT_AFTER_MESSAGES) stage(device, peer, packet);
    else sendTransport(device, peer, keypair, packet, now);
  }
  keepKeyFreshSending(device, peer, now);
  if (peer.staged.length > 0) sendHandshakeInitiation(device, peer, false, now);
}

function sendTransport(
  device: DeviceContext,
  peer: Peer,
  keypair: Keypair,
  packet: Buffer,
  now: number,
): void {
  const counter = keypair.sendNonce++;
  sendToPeer(device, peer, encryptTransport(keypair, counter, packet, device.mtu, device.messageBuffer));
  peer.timers.anyAuthenticatedPacketTraversal(now, peer.persistentKeepalive);
  peer.timers.anyAuthenticatedPacketSent();
  if (packet.length > 0) peer.timers.dataSent(now);
}

/**
 * Header, then the packet padded to a multiple of 16 (capped at the MTU), sealed with the counter.
 * Written into `out` when it has room (the result is then a view of it), else into a new buffer.
 */
export function encryptTransport(
  keypair: Keypair,
  counter: bigint,
  packet: Buffer,
  mtu: number,
  out?: Buffer,
): Buffer {
  const bodyEnd = MESSAGE_TRANSPORT_HEADER_SIZE + packet.length + paddingSize(packet.length, mtu);
  const length = bodyEnd + TAG_SIZE;
  const message = out && out.length >= length ? out.subarray(0, length) : Buffer.allocUnsafe(length);
  message.writeUInt32LE(MESSAGE_TRANSPORT_TYPE, 0);
  message.writeUInt32LE(keypair.remoteIndex, 4);
  message.writeBigUInt64LE(counter, 8);
  packet.copy(message, MESSAGE_TRANSPORT_HEADER_SIZE);
  message.fill(0, MESSAGE_TRANSPORT_HEADER_SIZE + packet.length, bodyEnd);
  keypair.sendCipher.seal(
    counter,
    message.subarray(MESSAGE_TRANSPORT_HEADER_SIZE, bodyEnd),
    message.subarray(bodyEnd),
  );
  return message;
}

/** The initiator of the current session rekeys after REKEY_AFTER_TIME or REKEY_AFTER_MESSAGES. */
function keepKeyFreshSending(device: DeviceContext, peer: Peer, now: number): void {
  const keypair = peer.keypairs.current;
  if (!keypair) return;
  if (
    keypair.sendNonce > REKEY_AFTER_MESSAGES ||
    (keypair.isInitiator && now - keypair.created > device.rekeyAfterTime)
  ) {
    sendHandshakeInitiation(device, peer, false, now);
  }
}

export function sendHandshakeInitiation(
  device: DeviceContext,
  peer: Peer,
  isRetry: boolean,
  now: number,
): void {
  if (!isRetry) peer.timers.handshakeAttempts = 0;
  const hs = peer.handshake;
  // At most one initiation per REKEY_TIMEOUT, however many packets ask for one.
  if (now - hs.lastSentHandshake < REKEY_TIMEOUT) return;
  if (!device.identity) return device.drop('noPrivateKey');
  hs.lastSentHandshake = now;
  peer.awaitingHandshakeSince ??= now;

  device.releaseHandshakeIndex(peer);
  const entry = { peer, keypair: null };
  const localIndex = device.indexTable.allocate(entry);
  const message = createInitiation(device.identity, hs, {
    localIndex,
    timestamp: tai64n(device.wallClock()),
  });
  if (!message) {
    device.indexTable.delete(localIndex);
    return;
  }
  peer.cookieGenerator.addMacs(message, now);
  peer.timers.anyAuthenticatedPacketTraversal(now, peer.persistentKeepalive);
  peer.timers.anyAuthenticatedPacketSent();
  peer.timers.handshakeInitiated(now);
  sendToPeer(device, peer, message);
}

export function sendHandshakeResponse(device: DeviceContext, peer: Peer, now: number): void {
  const hs = peer.handshake;
  hs.lastSentHandshake = now;
  device.releaseHandshakeIndex(peer);
  const localIndex = device.indexTable.allocate({ peer, keypair: null });
  const message = createResponse(hs, { localIndex });
  if (!message) {
    device.indexTable.delete(localIndex);
    device.drop('invalidHandshake');
    return;
  }
  peer.cookieGenerator.addMacs(message, now);
  beginSymmetricSession(device, peer, now);
  peer.timers.sessionDerived(now);
  peer.timers.anyAuthenticatedPacketTraversal(now, peer.persistentKeepalive);
  peer.timers.anyAuthenticatedPacketSent();
  sendToPeer(device, peer, message);
}

/**
 * Turns the finished handshake into a keypair. An initiator sends on it at once; a responder parks
 * it in `next` until the initiator's first transport message confirms it.
 */
export function beginSymmetricSession(device: DeviceContext, peer: Peer, now: number): void {
  const keys = deriveSessionKeys(peer.handshake);
  if (!keys) return;
  const keypair = new Keypair(keys, now);
  const entry = device.indexTable.get(keys.localIndex);
  if (entry) entry.keypair = keypair;

  const slots = peer.keypairs;
  const { previous, current, next } = slots;
  if (keys.isInitiator) {
    if (next) {
      slots.next = null;
      slots.previous = next;
      device.deleteKeypair(current);
    } else {
      slots.previous = current;
    }
    device.deleteKeypair(previous);
    slots.current = keypair;
  } else {
    slots.next = keypair;
    device.deleteKeypair(next);
    slots.previous = null;
    device.deleteKeypair(previous);
  }
}
