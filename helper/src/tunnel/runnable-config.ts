// What a config must be for the helper to run it: shared by the foreground runner and the service,
// which checks configs as they are imported, long before (and without loading) the tunnel code.

import { hasScriptHooks, type TunnelConfig } from '../../../shared/src/config/types.ts';
import { PhantomError } from '../../../shared/src/errors.ts';
import { formatPrefix } from '../../../shared/src/ip.ts';

/** A config the helper may run: it parses, has no script hooks, and (here) no default route. */
export function checkRunnable(path: string, config: TunnelConfig, allowFullTunnel: boolean): TunnelConfig {
  if (hasScriptHooks(config)) {
    throw new PhantomError(
      'SCRIPT_HOOKS_REFUSED',
      `${path}: PreUp/PostUp/PreDown/PostDown are refused: the helper runs as root and never runs a ` +
        "config's shell commands. Remove them and run such commands yourself.",
    );
  }
  for (const peer of config.peers) {
    const defaultRoute = peer.allowedIps.find((prefix) => prefix.bits === 0);
    if (defaultRoute && !allowFullTunnel) {
      throw new PhantomError(
        'FULL_TUNNEL_UNSUPPORTED',
        `${path}: AllowedIPs ${formatPrefix(defaultRoute)} would route all traffic through the tunnel; ` +
          'full tunnels need the helper service (loop-free policy routing) and are refused by the ' +
          'foreground runner. Use specific prefixes instead.',
      );
    }
  }
  return config;
}
