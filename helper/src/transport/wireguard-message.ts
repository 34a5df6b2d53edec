// The shape of a WireGuard message, checked before a relay forwards a client's datagram: the relay
// carries WireGuard to one server and nothing else, so a connection whose datagrams are not shaped
// like WireGuard (a port scanner, a TLS or HTTP client at the wrong port, an attempt to use the relay
// as a UDP forwarder) is closed at the first one. Only the header is looked at: the first byte is
// the type (1..4), the next three are zero, and each type has its size (the whitepaper, section 5.4).
// A transport message is at least 32 bytes (16 of header, 16 of tag: a keepalive); its length is not
// always a multiple of 16, because the padding stops at the interface's MTU.

const INITIATION = 1;
const RESPONSE = 2;
const COOKIE_REPLY = 3;
const TRANSPORT = 4;

export function isWireGuardMessage(datagram: Uint8Array): boolean {
  if (datagram.length < 32 || datagram[1] !== 0 || datagram[2] !== 0 || datagram[3] !== 0) return false;
  switch (datagram[0]) {
    case INITIATION:
      return datagram.length === 148;
    case RESPONSE:
      return datagram.length === 92;
    case COOKIE_REPLY:
      return datagram.length === 64;
    case TRANSPORT:
      return true;
    default:
      return false;
  }
}
