// What the main process knows of the tunnels, for the tray and the notifications (the renderer keeps
// its own copy from the same events). Fed by the helper's events; refetched whenever the link to the
// helper is (re)made, because events sent while it was down are lost.

import type { HelperEvent, TunnelStatus, TunnelSummary } from '../../shared/src/control/protocol.ts';
import type { HelperLink } from './helper-link.ts';

export type StatusChange = (previous: TunnelStatus | undefined, next: TunnelStatus) => void;

export class TunnelTracker {
  private readonly link: HelperLink;
  private readonly log: (message: string) => void;
  private summaries: TunnelSummary[] = [];
  /** The last status of each tunnel the helper reported since the link was made. */
  private readonly statusByName = new Map<string, TunnelStatus>();
  private readonly changeListeners = new Set<() => void>();
  private readonly statusListeners = new Set<StatusChange>();
  private readonly unsubscribe: Array<() => void> = [];

  constructor(link: HelperLink, log: (message: string) => void) {
    this.link = link;
    this.log = log;
  }

  get tunnels(): TunnelSummary[] {
    return this.summaries.map((summary) => ({
      ...summary,
      state: this.statusByName.get(summary.name)?.state ?? summary.state,
    }));
  }

  get statuses(): TunnelStatus[] {
    return [...this.statusByName.values()];
  }

  start(): void {
    this.unsubscribe.push(
      this.link.onStatus((connection) => {
        if (connection.state === 'connected') void this.refresh();
        else if (this.summaries.length > 0 || this.statusByName.size > 0) {
          // Nothing known about the tunnels is current without the helper.
          this.summaries = [];
          this.statusByName.clear();
          this.changed();
        }
      }),
      this.link.onEvent((event) => this.apply(event)),
    );
    if (this.link.status.state === 'connected') void this.refresh();
  }

  stop(): void {
    for (const unsubscribe of this.unsubscribe.splice(0)) unsubscribe();
  }

  /** Called after every change of `tunnels` or `statuses`. */
  onChange(listener: () => void): () => void {
    const wrapped = () => listener();
    this.changeListeners.add(wrapped);
    return () => this.changeListeners.delete(wrapped);
  }

  /** Called for each status the helper reports, with the one before it. */
  onStatusChange(listener: StatusChange): () => void {
    const wrapped: StatusChange = (previous, next) => listener(previous, next);
    this.statusListeners.add(wrapped);
    return () => this.statusListeners.delete(wrapped);
  }

  private changed(): void {
    for (const listener of this.changeListeners) listener();
  }

  private apply(event: HelperEvent): void {
    if (event.type === 'tunnels-changed') {
      void this.refresh();
      return;
    }
    const statuses =
      event.type === 'tunnel-state' ? [event.status] : event.type === 'stats' ? event.tunnels : [];
    if (statuses.length === 0) return;
    for (const status of statuses) {
      const previous = this.statusByName.get(status.name);
      this.statusByName.set(status.name, status);
      for (const listener of this.statusListeners) listener(previous, status);
    }
    this.changed();
  }

  private async refresh(): Promise<void> {
    try {
      const [summaries, status] = await Promise.all([
        this.link.call('tunnels.list', {}),
        this.link.call('status', {}),
      ]);
      this.summaries = summaries;
      // `status` lists the tunnels that are up; the others are as their summary says.
      this.statusByName.clear();
      for (const tunnel of status.tunnels) this.statusByName.set(tunnel.name, tunnel);
      this.changed();
    } catch (error) {
      // The link went down meanwhile; it refreshes again once it is back.
      this.log(`could not refresh the tunnel list: ${(error as Error).message}`);
    }
  }
}
