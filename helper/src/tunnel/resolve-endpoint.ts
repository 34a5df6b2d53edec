// A peer's endpoint as a wg-quick file names it (an IP address or a host name) as the device needs it.

import { PhantomError } from '../../../shared/src/errors.ts';
import { parseIp, type Endpoint } from '../../../shared/src/ip.ts';

export async function resolveEndpoint(host: string, port: number): Promise<Endpoint> {
  if (parseIp(host)) return { address: host, port, family: host.includes(':') ? 6 : 4 };
  try {
    // Node's DNS modules load with the first name to look up: the idle service does not carry them.
    const { address, family } = await process.getBuiltinModule('node:dns/promises').lookup(host);
    return { address, port, family: family === 6 ? 6 : 4 };
  } catch (error) {
    throw new PhantomError(
      'ENDPOINT_UNRESOLVED',
      `cannot resolve endpoint ${host}: ${(error as Error).message}`,
    );
  }
}
