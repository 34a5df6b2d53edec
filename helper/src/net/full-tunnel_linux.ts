// A full tunnel (AllowedIPs 0.0.0.0/0 or ::/0) without a routing loop, the way wg-quick does it. The
// tunnel's own UDP socket carries SO_MARK = fwmark; everything else goes to table T, whose only route
// is the tunnel:
//
//   ip rule add not fwmark M table T               unmarked traffic -> table T -> the tunnel
//   ip rule add table main suppress_prefixlength 0  but main's specific routes (the LAN) still win
//   ip route add 0.0.0.0/0 dev IF table T
//
// The nft table copies the mark of the tunnel's UDP flow (or its relay's TCP connection) to its
// replies (conntrack mark), and src_valid_mark lets the reverse-path filter see that mark, so strict
// rp_filter accepts the replies from the endpoint; it also drops packets for the tunnel's addresses that arrive from elsewhere.
// Every step goes through the journal, so a crash leaves nothing a restart cannot undo.

import { PhantomError } from '../../../shared/src/errors.ts';
import type { Family, IpPrefix } from '../../../shared/src/ip.ts';
import type { FullTunnelOptions } from './net.ts';
import { routingTableInUse } from './net_linux.ts';
import type { NetworkChange } from './network-changes_linux.ts';
import type { NetworkJournal } from './network-journal.ts';

/** wg-quick's first table (and fwmark) for a full tunnel. */
export const FIRST_FULL_TUNNEL_TABLE = 51820;

const FULL_TUNNEL_KINDS = new Set<NetworkChange['kind']>([
  'fwmark-rule',
  'suppress-rule',
  'route',
  'nft-table',
  'sysctl',
]);

/** nft table names allow fewer characters than interface names: `+` and `=` become `_2b`, `_3d`. */
export function fullTunnelTableName(ifname: string): string {
  const escaped = ifname.replace(/[^A-Za-z0-9.-]/g, (c) => `_${c.charCodeAt(0).toString(16)}`);
  return `phantommesh-${escaped}`;
}

async function firstFreeTable(): Promise<number> {
  let table = FIRST_FULL_TUNNEL_TABLE;
  while (await routingTableInUse(table)) table++;
  return table;
}

function nftRuleset(ifname: string, fwmark: number, families: Family[], addresses: IpPrefix[]): string {
  const name = fullTunnelTableName(ifname);
  const antiSpoof = addresses
    .filter((address) => families.includes(address.family))
    .map(
      (address) =>
        `    iifname != "${ifname}" ${address.family === 4 ? 'ip' : 'ip6'} daddr ${address.address} ` +
        'fib saddr type != local drop',
    );
  // Created, deleted and created again in one transaction: loading it twice replaces it.
  return [
    `table inet ${name}`,
    `delete table inet ${name}`,
    `table inet ${name} {`,
    '  chain preraw {',
    '    type filter hook prerouting priority raw; policy accept;',
    ...antiSpoof,
    '  }',
    '  chain premangle {',
    '    type filter hook prerouting priority mangle; policy accept;',
    '    meta l4proto { tcp, udp } meta mark set ct mark',
    '  }',
    '  chain postmangle {',
    '    type filter hook postrouting priority mangle; policy accept;',
    `    meta l4proto { tcp, udp } meta mark ${fwmark} ct mark set meta mark`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Routes every family in `families` through the tunnel, except the tunnel's own marked packets.
 *  All or nothing: on failure what was done is undone before the error is thrown. */
export async function enableFullTunnel(
  journal: NetworkJournal,
  options: FullTunnelOptions,
): Promise<{ table: number; fwmark: number }> {
  const { ifname, fwmark: givenMark } = options;
  const families = ([4, 6] as const).filter((family) => options.families[family === 4 ? 'v4' : 'v6']);
  if (families.length === 0)
    throw new PhantomError('FULL_TUNNEL_INVALID', `${ifname}: a full tunnel needs IPv4 or IPv6 (or both)`);
  if (givenMark !== undefined && (!Number.isInteger(givenMark) || givenMark < 1 || givenMark > 0xffffffff))
    throw new PhantomError(
      'FWMARK_INVALID',
      `${ifname}: a full tunnel needs a fwmark from 1 to 4294967295 on its UDP socket, not ${givenMark}`,
    );
  const table = givenMark ?? (await firstFreeTable());
  const fwmark = givenMark ?? table;
  try {
    for (const family of families) {
      await journal.apply({ kind: 'fwmark-rule', ifname, family, fwmark, table });
      await journal.apply({ kind: 'suppress-rule', ifname, family });
      const destination = family === 4 ? '0.0.0.0/0' : '::/0';
      await journal.apply({ kind: 'route', ifname, family, destination, table });
    }
    await journal.apply({
      kind: 'nft-table',
      ifname,
      name: fullTunnelTableName(ifname),
      ruleset: nftRuleset(ifname, fwmark, families, options.addresses),
    });
    if (families.includes(4))
      await journal.apply({ kind: 'sysctl', ifname, key: 'net.ipv4.conf.all.src_valid_mark', value: '1' });
  } catch (error) {
    await disableFullTunnel(journal, ifname).catch(() => undefined);
    throw error;
  }
  return { table, fwmark };
}

/** Undoes enableFullTunnel (rules, route, nft table, sysctl); nothing to undo is no error. */
export function disableFullTunnel(journal: NetworkJournal, ifname: string): Promise<void> {
  return journal.undo(
    (change) => FULL_TUNNEL_KINDS.has(change.kind) && 'ifname' in change && change.ifname === ifname,
  );
}
