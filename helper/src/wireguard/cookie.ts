// mac1, mac2 and cookie replies (whitepaper §5.4.4, §5.4.7; wireguard-go device/cookie.go).
// The checker is the device's side (validates what arrives, issues cookies under load); a
// generator belongs to each peer (adds macs to what we send it, keeps the cookie it gave us).

import { COOKIE_REFRESH_TIME, MESSAGE_COOKIE_REPLY_SIZE, MESSAGE_COOKIE_REPLY_TYPE } from './constants.ts';
import { equalConstantTime, hash, mac, MAC_SIZE, randomBytes, xopen, xseal } from './crypto.ts';
import { RateLimiter } from './ratelimiter.ts';

const LABEL_MAC1 = Buffer.from('mac1----');
const LABEL_COOKIE = Buffer.from('cookie--');
const NONCE_SIZE = 24;

const mac1Offset = (msg: Uint8Array) => msg.length - 2 * MAC_SIZE;
const mac2Offset = (msg: Uint8Array) => msg.length - MAC_SIZE;

export class CookieChecker {
  private mac1Key: Buffer = Buffer.alloc(32);
  private encryptionKey: Buffer = Buffer.alloc(32);
  private secret: Buffer = Buffer.alloc(32);
  private secretSet = -Infinity;
  // A flood of initiations with a valid mac1 from one source would otherwise cost one sealed reply
  // each; a peer that needs a cookie needs one per handshake attempt (every REKEY_TIMEOUT), so the
  // ratelimiter's pace per source is far more than any honest sender asks for.
  private readonly replies = new RateLimiter();

  constructor(localPublicKey: Uint8Array | null) {
    this.init(localPublicKey);
  }

  /** Keys both macs to our public key; with none, nothing passes mac1. */
  init(localPublicKey: Uint8Array | null): void {
    if (!localPublicKey) {
      this.mac1Key = Buffer.alloc(0);
      return;
    }
    this.mac1Key = hash(LABEL_MAC1, localPublicKey);
    this.encryptionKey = hash(LABEL_COOKIE, localPublicKey);
    this.secretSet = -Infinity;
  }

  checkMac1(msg: Buffer): boolean {
    if (this.mac1Key.length === 0) return false;
    const offset = mac1Offset(msg);
    return equalConstantTime(
      mac(this.mac1Key, msg.subarray(0, offset)),
      msg.subarray(offset, offset + MAC_SIZE),
    );
  }

  /** `source` identifies the sender's address; any stable encoding of IP and port will do. */
  checkMac2(msg: Buffer, source: Uint8Array, now: number): boolean {
    if (now - this.secretSet > COOKIE_REFRESH_TIME) return false;
    const cookie = mac(this.secret, source);
    const offset = mac2Offset(msg);
    return equalConstantTime(mac(cookie, msg.subarray(0, offset)), msg.subarray(offset));
  }

  /**
   * A cookie reply to `msg`, sent instead of processing it while we are under load, or null when
   * `sourceKey` (the sender's address, as the ratelimiter keys it) has had its share of replies.
   */
  createReply(
    msg: Buffer,
    receiverIndex: number,
    source: Uint8Array,
    sourceKey: string,
    now: number,
  ): Buffer | null {
    if (!this.replies.allow(sourceKey, now)) return null;
    if (now - this.secretSet > COOKIE_REFRESH_TIME) {
      this.secret = randomBytes(32);
      this.secretSet = now;
    }
    const cookie = mac(this.secret, source);
    const reply = Buffer.alloc(MESSAGE_COOKIE_REPLY_SIZE);
    reply.writeUInt32LE(MESSAGE_COOKIE_REPLY_TYPE, 0);
    reply.writeUInt32LE(receiverIndex, 4);
    const nonce = randomBytes(NONCE_SIZE);
    nonce.copy(reply, 8);
    const offset = mac1Offset(msg);
    xseal(this.encryptionKey, nonce, cookie, msg.subarray(offset, offset + MAC_SIZE)).copy(
      reply,
      8 + NONCE_SIZE,
    );
    return reply;
  }
}

export class CookieGenerator {
  private readonly mac1Key: Buffer;
  private readonly decryptionKey: Buffer;
  private cookie: Buffer | null = null;
  private cookieSet = -Infinity;
  private lastMac1: Buffer | null = null;

  constructor(remotePublicKey: Uint8Array) {
    this.mac1Key = hash(LABEL_MAC1, remotePublicKey);
    this.decryptionKey = hash(LABEL_COOKIE, remotePublicKey);
  }

  /** Fills in mac1, and mac2 while we hold a fresh cookie from this peer. */
  addMacs(msg: Buffer, now: number): void {
    const offset1 = mac1Offset(msg);
    const mac1 = mac(this.mac1Key, msg.subarray(0, offset1));
    mac1.copy(msg, offset1);
    this.lastMac1 = mac1;
    const offset2 = mac2Offset(msg);
    if (this.cookie && now - this.cookieSet <= COOKIE_REFRESH_TIME) {
      mac(this.cookie, msg.subarray(0, offset2)).copy(msg, offset2);
    } else {
      msg.fill(0, offset2);
    }
  }

  /** Accepts a cookie reply only if it answers the last message we sent (its mac1 is the AD). */
  consumeReply(reply: Buffer, now: number): boolean {
    if (!this.lastMac1) return false;
    const cookie = xopen(
      this.decryptionKey,
      reply.subarray(8, 8 + NONCE_SIZE),
      reply.subarray(8 + NONCE_SIZE),
      this.lastMac1,
    );
    if (!cookie) return false;
    this.cookie = cookie;
    this.cookieSet = now;
    this.lastMac1 = null;
    return true;
  }
}
