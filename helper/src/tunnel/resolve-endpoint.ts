// A peer's endpoint as a wg-quick file names it (an IP address or a host name) as the device needs it.

import { lookup } from 'node:dns/promises';
import { PhantomError } from '../../../shared/src/errors.ts';
import { parseIp, type Endpoint } from '../../../shared/src/ip.ts';

export async function resolveEndpoint(host: string, port: number): Promise<Endpoint> {
  if (parseIp(host)) return { address: host, port, family: host.includes(':') ? 6 : 4 };
  try {
    const { address, family } = await lookup(host);
    return { address, port, family: family === 6 ? 6 : 4 };
  } catch (error) {
    throw new PhantomError(
      'ENDPOINT_UNRESOLVED',
      `cannot resolve endpoint ${host}: ${(error as Error).message}`,
    );
  }
}
