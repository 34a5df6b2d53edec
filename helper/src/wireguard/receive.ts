// Everything the device receives. A datagram is checked in the order wireguard-go's receive.go
// uses, cheapest first, and anything that fails a check is dropped and counted, never thrown.
// Transport data is handled at once; handshake messages go through the device's bounded handshake
// queue (handshake-queue.ts) once they pass the cheapest check, and processHandshake takes them from
// there.

import { formatEndpoint, parseIp, type Endpoint } from '../../../shared/src/ip.ts';
import {
  MESSAGE_COOKIE_REPLY_SIZE,
  MESSAGE_COOKIE_REPLY_TYPE,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_INITIATION_TYPE,
  MESSAGE_RESPONSE_SIZE,
  MESSAGE_RESPONSE_TYPE,
  MESSAGE_TRANSPORT_HEADER_SIZE,
  MESSAGE_TRANSPORT_SIZE,
  MESSAGE_TRANSPORT_TYPE,
  REJECT_AFTER_MESSAGES,
  REJECT_AFTER_TIME,
  REKEY_ON_RECEIVE_AGE,
} from './constants.ts';
import type { DeviceContext } from './context.ts';
import { TAG_SIZE } from './crypto.ts';
import type { Keypair } from './keypair.ts';
import { consumeInitiation, consumeResponse } from './noise.ts';
import { ipPacketLength, sourceAddress } from './packet.ts';
import type { Peer } from './peer.ts';
import {
  beginSymmetricSession,
  sendHandshakeInitiation,
  sendHandshakeResponse,
  sendKeepalive,
  sendStagedPackets,
} from './send.ts';

export function receiveDatagram(device: DeviceContext, packet: Buffer, from: Endpoint, now: number): void {
  if (packet.length < MESSAGE_TRANSPORT_SIZE) return device.drop('tooShort');
  // The type is a little-endian u32 whose upper three bytes must be zero (reserved).
  switch (packet.readUInt32LE(0)) {
    case MESSAGE_INITIATION_TYPE:
      if (packet.length !== MESSAGE_INITIATION_SIZE) return device.drop('badLength');
      return admitHandshake(device, packet, from, now);
    case MESSAGE_RESPONSE_TYPE:
      if (packet.length !== MESSAGE_RESPONSE_SIZE) return device.drop('badLength');
      return admitHandshake(device, packet, from, now);
    case MESSAGE_COOKIE_REPLY_TYPE:
      if (packet.length !== MESSAGE_COOKIE_REPLY_SIZE) return device.drop('badLength');
      // The cheapest check first: a reply to no handshake of ours is junk.
      if (!device.indexTable.get(packet.readUInt32LE(4))) return device.drop('invalidCookieReply');
      return device.queueHandshake(packet, from, now);
    case MESSAGE_TRANSPORT_TYPE:
      return receiveTransport(device, packet, from, now);
    default:
      return device.drop('unknownType');
  }
}

/**
 * On the data path: an initiation or response is checked for mac1 (one native keyed BLAKE2s, the
 * cheapest check there is) and then queued; junk costs nothing more. Everything expensive (the
 * cookie logic, X25519) happens in processHandshake, when the runner drains the queue.
 */
function admitHandshake(device: DeviceContext, packet: Buffer, from: Endpoint, now: number): void {
  if (!device.identity) return device.drop('noPrivateKey');
  if (!device.cookieChecker.checkMac1(packet)) return device.drop('invalidMac1');
  device.queueHandshake(packet, from, now);
}

/** One message from the handshake queue: an initiation, a response or a cookie reply. */
export function processHandshake(device: DeviceContext, packet: Buffer, from: Endpoint, now: number): void {
  const type = packet.readUInt32LE(0);
  if (type === MESSAGE_COOKIE_REPLY_TYPE) return receiveCookieReply(device, packet, now);
  // The private key may have been removed while the message waited.
  if (!device.identity) return device.drop('noPrivateKey');
  if (device.noteHandshakeAndCheckLoad(now)) {
    const source = Buffer.from(formatEndpoint(from));
    if (!device.cookieChecker.checkMac2(packet, source, now)) {
      const reply = device.cookieChecker.createReply(
        packet,
        packet.readUInt32LE(4),
        source,
        rateLimitKey(from),
        now,
      );
      if (!reply) return device.drop('cookieRateLimited');
      device.io.sendDatagram(reply, from);
      return device.drop('cookieSent');
    }
    if (!device.rateLimiter.allow(rateLimitKey(from), now)) return device.drop('rateLimited');
  }
  if (type === MESSAGE_INITIATION_TYPE) receiveInitiation(device, packet, from, now);
  else receiveResponse(device, packet, from, now);
}

/** An IPv6 host usually holds a whole /64, so it gets one bucket per /64, as in the kernel. */
function rateLimitKey(from: Endpoint): string {
  const bytes = from.family === 6 ? parseIp(from.address) : null;
  return bytes ? Buffer.from(bytes.subarray(0, 8)).toString('hex') : from.address;
}

function receiveInitiation(device: DeviceContext, packet: Buffer, from: Endpoint, now: number): void {
  let peer: Peer | undefined;
  const hs = consumeInitiation(
    device.identity!,
    packet,
    (remoteStatic) => {
      peer = device.peers.get(remoteStatic.toString('hex'));
      return peer?.handshake;
    },
    now,
  );
  if (!hs || !peer) return device.drop('invalidHandshake');
  authenticated(peer, packet, from, now);
  sendHandshakeResponse(device, peer, now);
}

function receiveResponse(device: DeviceContext, packet: Buffer, from: Endpoint, now: number): void {
  const entry = device.indexTable.get(packet.readUInt32LE(8));
  if (!entry || entry.keypair) return device.drop('unknownIndex');
  const { peer } = entry;
  if (!consumeResponse(device.identity!, peer.handshake, packet)) return device.drop('invalidHandshake');
  authenticated(peer, packet, from, now);
  beginSymmetricSession(device, peer, now);
  peer.timers.sessionDerived(now);
  handshakeComplete(device, peer);
  // Key confirmation: the responder may only use the new keys once we have sent on them.
  sendKeepalive(device, peer, now);
}

function receiveCookieReply(device: DeviceContext, packet: Buffer, now: number): void {
  const entry = device.indexTable.get(packet.readUInt32LE(4));
  if (!entry || !entry.peer.cookieGenerator.consumeReply(packet, now)) device.drop('invalidCookieReply');
}

/** Roaming and timer bookkeeping shared by every authenticated message. */
function authenticated(peer: Peer, packet: Buffer, from: Endpoint, now: number): void {
  peer.endpoint = from;
  peer.awaitingHandshakeSince = null;
  peer.rxBytes += BigInt(packet.length);
  if (packet[0] !== MESSAGE_INITIATION_TYPE) peer.answersReceived++;
  peer.timers.anyAuthenticatedPacketTraversal(now, peer.persistentKeepalive);
  peer.timers.anyAuthenticatedPacketReceived();
}

function handshakeComplete(device: DeviceContext, peer: Peer): void {
  device.stats.handshakesCompleted++;
  peer.timers.handshakeComplete();
  peer.lastHandshakeWallMs = device.wallClock();
}

function receiveTransport(device: DeviceContext, packet: Buffer, from: Endpoint, now: number): void {
  const entry = device.indexTable.get(packet.readUInt32LE(4));
  const keypair = entry?.keypair;
  if (!entry || !keypair) return device.drop('unknownIndex');
  if (now - keypair.created >= REJECT_AFTER_TIME) return device.drop('keypairExpired');
  const counter = packet.readBigUInt64LE(8);
  const tagStart = packet.length - TAG_SIZE;
  // Decrypted in place: the datagram's memory is ours for the length of this call.
  const plaintext = packet.subarray(MESSAGE_TRANSPORT_HEADER_SIZE, tagStart);
  if (!keypair.receiveCipher.open(counter, plaintext, packet.subarray(tagStart)))
    return device.drop('decryptFailed');
  // The window only moves for authentic packets, so forged counters cannot push it forward.
  if (!keypair.replay.validateCounter(counter, REJECT_AFTER_MESSAGES)) return device.drop('replayed');

  const { peer } = entry;
  authenticated(peer, packet, from, now);
  if (receivedWithKeypair(device, peer, keypair)) {
    handshakeComplete(device, peer);
    sendStagedPackets(device, peer, now);
  }
  keepKeyFreshReceiving(device, peer, now);
  if (plaintext.length === 0) return;

  peer.timers.dataReceived(now);
  const length = ipPacketLength(plaintext);
  if (length < 0) return device.drop('notIp');
  const source = sourceAddress(plaintext)!;
  if (device.allowedIps.lookup(source) !== peer) return device.drop('sourceNotAllowed');
  device.io.writeTun(plaintext.subarray(0, length));
}

/** Key confirmation on the responder: the first packet on `next` makes it current. */
function receivedWithKeypair(device: DeviceContext, peer: Peer, keypair: Keypair): boolean {
  const slots = peer.keypairs;
  if (slots.next !== keypair) return false;
  device.deleteKeypair(slots.previous);
  slots.previous = slots.current;
  slots.current = keypair;
  slots.next = null;
  return true;
}

/** An initiator whose session nears REJECT_AFTER_TIME rekeys once, even if it sends nothing. */
function keepKeyFreshReceiving(device: DeviceContext, peer: Peer, now: number): void {
  if (peer.timers.sentLastMinuteHandshake) return;
  const keypair = peer.keypairs.current;
  if (keypair?.isInitiator && now - keypair.created > REKEY_ON_RECEIVE_AGE) {
    peer.timers.sentLastMinuteHandshake = true;
    sendHandshakeInitiation(device, peer, false, now);
  }
}
