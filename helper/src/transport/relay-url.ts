// Where a relay is, as a URL: `tcp://HOST:PORT` (the 2-byte framing of stream-framing.ts),
// `ws://HOST[:PORT]/PATH` and `wss://HOST[:PORT]/PATH` (one WebSocket binary message per datagram).
// The relay listens on such URLs and the client connects to them, so both sides parse them here.
//
// The rules themselves are shared/src/relay-url.ts's (the renderer's transport form checks with the
// same ones); this module turns the first rule a URL breaks into an English reason and throws it.

import { PhantomError } from '../../../shared/src/errors.ts';
import { checkRelayUrl, type RelayUrl, type RelayUrlProblem } from '../../../shared/src/relay-url.ts';

export { formatRelayUrl, type RelayScheme, type RelayUrl } from '../../../shared/src/relay-url.ts';

export class RelayUrlError extends PhantomError {
  constructor(text: string, problem: string) {
    super('RELAY_URL_INVALID', `${JSON.stringify(text.slice(0, 200))}: ${problem}`);
    this.name = 'RelayUrlError';
  }
}

export function parseRelayUrl(text: string): RelayUrl {
  const checked = checkRelayUrl(text);
  if (!checked.ok) throw new RelayUrlError(text, relayUrlReason(checked.problem));
  return checked.url;
}

/** Why a URL was refused, in the words of the helper's errors and logs. */
function relayUrlReason(problem: RelayUrlProblem): string {
  switch (problem.kind) {
    case 'tooLong':
      return `the URL is longer than ${problem.max} characters`;
    case 'shape':
      return 'not a URL (expected tcp://, ws:// or wss://)';
    case 'scheme':
      return `unsupported scheme ${problem.scheme}:// (expected tcp://, ws:// or wss://)`;
    case 'queryOrFragment':
      return 'a query or fragment is not allowed';
    case 'whiteSpace':
      return 'white space is not allowed';
    case 'credentials':
      return 'credentials are not allowed in a relay URL';
    case 'unterminatedIpv6':
      return 'unterminated [IPv6 address]';
    case 'afterAddress':
      return `unexpected ${JSON.stringify(problem.after)} after the address`;
    case 'notIpv6':
      return `[${problem.address}] is not an IPv6 address`;
    case 'ipv6NeedsBrackets':
      return 'an IPv6 address must be written in [brackets]';
    case 'noHost':
      return 'no host';
    case 'host':
      return `${JSON.stringify(problem.host.toLowerCase())} is neither an IP address nor a host name`;
    case 'port':
      return `port ${JSON.stringify(problem.port)} is not in 1..65535`;
    case 'needsPort':
      return `${problem.scheme}:// needs a port (${problem.scheme}://HOST:PORT)`;
    case 'tcpPath':
      return 'tcp:// takes no path';
    case 'pathTooLong':
      return `the path is longer than ${problem.max} characters`;
    case 'pathCharacters':
      return "the path may hold only letters, digits and -._~!$&'()*+,;=:@/";
  }
}
