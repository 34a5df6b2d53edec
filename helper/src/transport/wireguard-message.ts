// The shape of a WireGuard message, checked before a relay forwards a client's datagram: the relay
// carries WireGuard to one server and nothing else, so a connection whose datagrams are not shaped
// like WireGuard (a port scanner, a TLS or HTTP client at the wrong port, an attempt to use the relay
// as a UDP forwarder) is closed at the first one. Only the header is looked at: the first byte is
// the type (1..4), the next three are zero, and each type has its size (the whitepaper, section 5.4;
// a transport message is 16 bytes of header plus a padded, authenticated payload of 16n + 16).

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
      return datagram.length % 16 === 0;
    default:
      return false;
  }
}
