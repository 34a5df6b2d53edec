// Tunnel-status bookkeeping that does not belong to React: the reconnect countdown. Pure (no DOM).

import type { TunnelStatus } from '../../../../shared/src/control/protocol.ts';

export interface RetryInfo {
  attempt: number;
  /** When the next attempt is due, on the renderer's clock (ms). */
  deadline: number;
}

/**
 * The countdown for a status. The helper repeats the same `nextRetrySeconds` in every stats event
 * of one attempt, so the deadline is fixed when an attempt is first seen and kept until the attempt
 * changes; any other state has no countdown.
 */
export function retryFor(
  previous: RetryInfo | undefined,
  status: TunnelStatus,
  now: number,
): RetryInfo | undefined {
  if (status.state !== 'reconnecting' || status.attempt === undefined) return undefined;
  if (previous && previous.attempt === status.attempt) return previous;
  return { attempt: status.attempt, deadline: now + (status.nextRetrySeconds ?? 0) * 1000 };
}
