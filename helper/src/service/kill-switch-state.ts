// The kill switch's one decision: whether traffic outside the tunnels is blocked, with which
// exceptions, and why, as a pure function of the user's intent (the settings and the tunnels the user
// wants up) and of the tunnels that are up now. No I/O: TunnelManager feeds it and hands the result to
// the firewall seam (net/killswitch.ts), which replaces the table in one transaction.
//
// The rule: traffic is blocked iff lockdown is on, or the kill switch is on and some tunnel is wanted.
// Only the user lifts it: by disconnecting (nothing is wanted any more) or by turning the setting off.
// What happens to the tunnels themselves (an edit, a reconnect, an endpoint that moved, a connect that
// failed, the helper stopping or crashing) changes the exceptions, never whether it blocks.
//
// And, with the kill switch off, while a full tunnel (0.0.0.0/0 or ::/0) is up: a network that
// injects more specific routes (DHCP option 121, "TunnelVision", CVE-2024-3661) would otherwise pull
// traffic out of the tunnel, so the same exceptions-only firewall holds for as long as that tunnel is
// up, as Mullvad's does whenever it is connected. It is tied to the tunnel, not to the user's intent:
// it goes when the tunnel goes down (a disconnect, a stop), and never stays behind a stopped helper.

import type { TunnelState } from '../../../shared/src/control/protocol.ts';
import type { KillSwitchTunnel, LocalNetworks } from '../net/killswitch.ts';

export interface KillSwitchIntent {
  killSwitch: boolean;
  allowLan: boolean;
  /** Block everything but tunnels even with no tunnel wanted. */
  lockdown: boolean;
}

/** A tunnel that is up now, as the firewall needs to know it. */
export interface UpTunnel extends KillSwitchTunnel {
  state: TunnelState;
  /** It routes everything (AllowedIPs 0.0.0.0/0 or ::/0). */
  fullTunnel?: boolean;
}

export interface KillSwitchInputs {
  settings: KillSwitchIntent;
  /** The tunnels the user wants up (WantedTunnels), in the order they were connected. */
  wanted: readonly string[];
  /** The tunnels that are up now; may be fewer than wanted (connecting, failed, mid-edit, stopping). */
  up: readonly UpTunnel[];
  /** The machine's local networks as last read (the LAN and DHCP exceptions); absent: none known. */
  local?: LocalNetworks;
}

export type FirewallDecision =
  | { state: 'off' }
  | {
      state: 'blocking';
      /** For people: "kill switch: connecting office", "lockdown: no tunnel up". */
      reason: string;
      allowLan: boolean;
      local?: LocalNetworks;
      /** The exceptions: the tunnels that are up, their endpoints and DNS servers. */
      tunnels: KillSwitchTunnel[];
    };

/** Whether traffic outside the tunnels must be blocked: the intent alone says. */
export function isBlocking(settings: KillSwitchIntent, wanted: readonly string[]): boolean {
  return settings.lockdown || (settings.killSwitch && wanted.length > 0);
}

function list(names: readonly string[]): string {
  return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

function reasonFor({ settings, wanted, up }: KillSwitchInputs): string {
  const prefix = settings.lockdown ? 'lockdown' : 'kill switch';
  const upByName = new Map(up.map((tunnel) => [tunnel.ifname, tunnel]));
  const down = wanted.filter((name) => !upByName.has(name));
  if (down.length > 0) return `${prefix}: connecting ${list(down)}`;
  const reconnecting = up.filter((t) => t.state === 'reconnecting').map((t) => t.ifname);
  if (reconnecting.length > 0) return `${prefix}: reconnecting ${list(reconnecting)}`;
  const connecting = up.filter((t) => t.state !== 'connected').map((t) => t.ifname);
  if (connecting.length > 0) return `${prefix}: connecting ${list(connecting)}`;
  if (up.length === 0) return `${prefix}: no tunnel up`;
  return `${prefix}: traffic only through ${list(up.map((t) => t.ifname))}`;
}

/** The firewall state the intent and the tunnels call for. */
export function decideFirewall(inputs: KillSwitchInputs): FirewallDecision {
  const full = inputs.up.filter((tunnel) => tunnel.fullTunnel).map((tunnel) => tunnel.ifname);
  const byIntent = isBlocking(inputs.settings, inputs.wanted);
  if (!byIntent && full.length === 0) return { state: 'off' };
  return {
    state: 'blocking',
    reason: byIntent
      ? reasonFor(inputs)
      : `full tunnel ${list(full)}: traffic outside it is blocked while it is up, so injected routes cannot pull it out`,
    allowLan: inputs.settings.allowLan,
    ...(inputs.local ? { local: inputs.local } : {}),
    tunnels: inputs.up.map(({ ifname, endpoints, dns, fwmark }) => ({
      ifname,
      endpoints: endpoints.map((e) => ({ ...e })),
      dns: [...dns],
      fwmark,
    })),
  };
}

/**
 * What the helper leaves when it stops (SIGTERM, a restart, an upgrade): the tunnels go down but stay
 * wanted, so a blocking firewall stays (the table holds while no helper runs, and the next run takes
 * it over); one that is off stays off, and the stop leaves nothing behind.
 */
export function decideOnStop(inputs: Omit<KillSwitchInputs, 'up'>): FirewallDecision {
  return decideFirewall({ ...inputs, up: [] });
}

/** Whether a name may be looked up outside the tunnels: only while nothing is blocked. */
export function mayResolveInClear(decision: FirewallDecision): boolean {
  return decision.state === 'off';
}

/** Whether two decisions make the same ruleset (then nothing is applied again); the reason may differ. */
export function sameFirewall(a: FirewallDecision, b: FirewallDecision): boolean {
  const rules = (d: FirewallDecision) =>
    d.state === 'off' ? 'off' : JSON.stringify({ allowLan: d.allowLan, local: d.local, tunnels: d.tunnels });
  return rules(a) === rules(b);
}

/** The `status` result's `blocking`: what a person is told, or null when traffic is not blocked. */
export function blockingStatus(decision: FirewallDecision): { reason: string } | null {
  return decision.state === 'blocking' ? { reason: decision.reason } : null;
}
