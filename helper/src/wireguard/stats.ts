// Why packets were dropped. Every packet the device refuses is counted under one reason, so a
// malformed or hostile packet is visible in statistics instead of silently lost.

export type DropReason =
  | 'tooShort'
  | 'unknownType'
  | 'badLength'
  | 'noPrivateKey'
  | 'invalidMac1'
  /** The handshake queue was full (a flood of messages with a valid mac1): dropped unprocessed. */
  | 'handshakeQueueFull'
  | 'cookieSent'
  /** Under load, a source that already had its share of cookie replies this second gets none. */
  | 'cookieRateLimited'
  | 'rateLimited'
  | 'invalidHandshake'
  | 'invalidCookieReply'
  | 'unknownIndex'
  | 'keypairExpired'
  | 'decryptFailed'
  | 'replayed'
  | 'notIp'
  | 'sourceNotAllowed'
  | 'noRoute'
  | 'noEndpoint'
  | 'stagedOverflow'
  | 'stagedFlushed'
  | 'tunWriteFailed';

export class DeviceStats {
  handshakesCompleted = 0;
  /** Initiations sent again because the previous one got no answer in REKEY_TIMEOUT. */
  handshakeRetries = 0;
  dropped = 0;
  readonly droppedBy = new Map<DropReason, number>();

  drop(reason: DropReason, count = 1): void {
    if (count === 0) return;
    this.dropped += count;
    this.droppedBy.set(reason, (this.droppedBy.get(reason) ?? 0) + count);
  }
}
