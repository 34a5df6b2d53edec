// The selected tunnel: its state and the big Connect/Disconnect button, then what it is connected
// to, the traffic, the interface and its peers.

import { useShallow } from 'zustand/react/shallow';
import type { PeerStatus, PublicTunnelConfig, TunnelState } from '../../../../shared/src/control/protocol.ts';
import { useNow } from '../hooks.ts';
import { formatAge, formatBytes, isActive, secondsLeft, stateText } from '../lib/format.ts';
import { hasNoPeer, withPeerState, type ShownState } from '../lib/peers.ts';
import { carriedText } from '../lib/transport.ts';
import { connect, disconnect, useTunnels } from '../stores/tunnels.ts';
import { openDialog } from '../stores/ui.ts';
import { strings } from '../strings.ts';
import { CopyButton } from './CopyButton.tsx';
import {
  AlertIcon,
  EditIcon,
  ExportIcon,
  PlusIcon,
  PowerIcon,
  ShieldAlertIcon,
  ShieldCheckIcon,
  ShieldIcon,
  ShieldOffIcon,
  TrashIcon,
} from './icons.tsx';
import { RateChart } from './RateChart.tsx';
import { TransportSection } from './TransportSection.tsx';

const t = strings.detail;

function prefixText(prefix: { address: string; bits: number }): string {
  return `${prefix.address}/${prefix.bits}`;
}

function StateIcon({ state }: { state: ShownState }) {
  if (state === 'connected') return <ShieldCheckIcon size={40} />;
  if (state === 'error') return <ShieldAlertIcon size={40} />;
  if (state === 'disconnected' || state === 'no-peer') return <ShieldOffIcon size={40} />;
  return <ShieldIcon size={40} />;
}

export function TunnelDetail({ name }: { name: string }) {
  const { summary, status, config, history, retry, pending, actionError } = useTunnels(
    useShallow((state) => ({
      summary: state.summaries.find((item) => item.name === name),
      status: state.statuses[name],
      config: state.configs[name],
      history: state.rates[name],
      retry: state.retries[name],
      pending: state.pending[name],
      actionError: state.actionErrors[name],
    })),
  );
  const reported: TunnelState = status?.state ?? summary?.state ?? 'disconnected';
  // Until the helper answers, show what the user asked for.
  const state: TunnelState =
    pending === 'connect' && !isActive(reported)
      ? 'connecting'
      : pending === 'disconnect' && isActive(reported)
        ? 'disconnecting'
        : reported;
  const active = isActive(state);
  const noPeer = hasNoPeer(config);
  // A tunnel without a peer says so, rather than "Connecting…" for ever.
  const shown = withPeerState(state, noPeer);
  const now = useNow(1000);
  if (!summary) return null;

  const retryText =
    shown === 'reconnecting' && retry
      ? { attempt: retry.attempt, seconds: secondsLeft(retry.deadline, now) }
      : undefined;
  const reason =
    shown === 'no-peer'
      ? active
        ? t.noPeerUpReason
        : t.noPeerReason
      : status?.reason && (state === reported || state === 'error')
        ? status.reason
        : undefined;
  const addresses =
    status && status.interfaceAddresses.length > 0 ? status.interfaceAddresses : summary.addresses;
  const endpoint = status?.endpoint ?? summary.endpoints[0];
  const live = state === 'connected' || state === 'reconnecting' || state === 'connecting';

  return (
    <section className="detail" aria-labelledby="detail-title">
      <div className="detail-header">
        <h2 id="detail-title" className="detail-title">
          {name}
        </h2>
        <div className="toolbar" role="group" aria-label={t.actions}>
          <button
            type="button"
            className="button button-ghost"
            onClick={() => openDialog({ kind: 'edit', name })}
          >
            <EditIcon size={16} />
            {t.edit}
          </button>
          <button
            type="button"
            className="button button-ghost"
            onClick={() => openDialog({ kind: 'export', name })}
          >
            <ExportIcon size={16} />
            {t.exportTunnel}
          </button>
          <button
            type="button"
            className="button button-ghost button-ghost-danger"
            onClick={() => openDialog({ kind: 'delete', name })}
          >
            <TrashIcon size={16} />
            {t.delete}
          </button>
        </div>
      </div>

      <div className={`hero hero-${shown}`}>
        <div className="hero-icon">
          <StateIcon state={shown} />
        </div>
        <div className="hero-text">
          <div role="status" className="state-line">
            <span className="state-text">{retryText ? <RetryText {...retryText} /> : stateText(shown)}</span>
            {reason && (
              <>
                {' '}
                <span className="state-reason">{reason}</span>
              </>
            )}
          </div>
        </div>
        <button
          type="button"
          className={active ? 'button button-large button-disconnect' : 'button button-large button-connect'}
          onClick={() => void (active ? disconnect(name) : connect(name))}
          disabled={state === 'disconnecting' || pending !== undefined}
          aria-busy={pending !== undefined}
        >
          <PowerIcon size={20} />
          {active ? t.disconnect : t.connect}
        </button>
        {noPeer && !active && (
          <button
            type="button"
            className="button button-large button-secondary"
            onClick={() => openDialog({ kind: 'edit', name, addPeer: true })}
          >
            <PlusIcon size={18} />
            {t.addPeer}
          </button>
        )}
      </div>
      {actionError && (
        <p role="alert" className="banner banner-error">
          <AlertIcon size={18} />
          {actionError}
        </p>
      )}

      <dl className="facts">
        <div className="fact">
          <dt>{t.addresses}</dt>
          <dd>{addresses.length > 0 ? addresses.join(', ') : t.none}</dd>
        </div>
        <div className="fact">
          <dt>{t.endpoint}</dt>
          <dd>{endpoint ?? t.none}</dd>
        </div>
        {live && status?.transport && (
          <div className="fact" data-testid="carried-by">
            <dt>{strings.transport.carriedBy}</dt>
            <dd>
              {carriedText(status.transport)}
              {status.transport.reason && <span className="muted small"> ({status.transport.reason})</span>}
            </dd>
          </div>
        )}
        <div className="fact">
          <dt>{t.latestHandshake}</dt>
          <dd>{status?.latestHandshake ? formatAge(status.latestHandshake, now) : t.never}</dd>
        </div>
      </dl>

      <section className="card" aria-labelledby="traffic-title">
        <div className="card-head">
          <h3 id="traffic-title" className="card-title">
            {t.traffic}
          </h3>
          <dl className="totals">
            <div>
              <dt>{t.received}</dt>
              <dd data-testid="rx-bytes" data-bytes={status?.rxBytes ?? 0}>
                {formatBytes(status?.rxBytes ?? 0)}
              </dd>
            </div>
            <div>
              <dt>{t.sent}</dt>
              <dd>{formatBytes(status?.txBytes ?? 0)}</dd>
            </div>
          </dl>
        </div>
        <RateChart history={history} now={now} live={live} />
      </section>

      <section className="card" aria-labelledby="interface-title">
        <h3 id="interface-title" className="card-title">
          {t.interfaceSection}
        </h3>
        <div className="key-row">
          <div className="key-text">
            <span className="key-label">{t.publicKey}</span>
            <code className="key">{summary.publicKey}</code>
          </div>
          <CopyButton text={summary.publicKey} />
        </div>
        {config && <InterfaceFacts config={config} />}
      </section>

      <TransportSection name={name} />

      <section className="card" aria-labelledby="peers-title">
        <h3 id="peers-title" className="card-title">
          {t.peers}
          {config && <span className="count">{t.peersCount(config.peers.length)}</span>}
        </h3>
        {config && config.peers.length === 0 && <p className="muted">{t.noPeers}</p>}
        {config?.peers.map((peer, index) => (
          <Peer
            key={peer.publicKey}
            index={index}
            peer={peer}
            status={status?.peers.find((item) => item.publicKey === peer.publicKey)}
            now={now}
          />
        ))}
      </section>
    </section>
  );
}

/**
 * "Reconnecting (attempt 2, next in 8 s)". The countdown sits in an aria-live="off" span so the
 * status region is announced when the attempt changes, not every second.
 */
function RetryText({ attempt, seconds }: { attempt: number; seconds: number }) {
  const [before, after = ''] = strings.state.reconnectingAttempt(attempt, '\u0000').split('\u0000');
  return (
    <>
      {before}
      <span aria-live="off">{seconds}</span>
      {after}
    </>
  );
}

function InterfaceFacts({ config }: { config: PublicTunnelConfig }) {
  const { dns, dnsSearch, mtu, listenPort } = config.interface;
  return (
    <dl className="pairs">
      <dt>{t.dns}</dt>
      <dd>{dns.length > 0 ? dns.join(', ') : t.none}</dd>
      {dnsSearch.length > 0 && (
        <>
          <dt>{t.dnsSearch}</dt>
          <dd>{dnsSearch.join(', ')}</dd>
        </>
      )}
      {mtu !== undefined && (
        <>
          <dt>{t.mtu}</dt>
          <dd>{mtu}</dd>
        </>
      )}
      {listenPort !== undefined && (
        <>
          <dt>{t.listenPort}</dt>
          <dd>{listenPort}</dd>
        </>
      )}
    </dl>
  );
}

function Peer({
  index,
  peer,
  status,
  now,
}: {
  index: number;
  peer: PublicTunnelConfig['peers'][number];
  status: PeerStatus | undefined;
  now: number;
}) {
  const endpoint =
    status?.endpoint ?? (peer.endpoint ? `${peer.endpoint.host}:${peer.endpoint.port}` : undefined);
  return (
    <div className="peer">
      <h4 className="peer-title">{t.peer(index + 1)}</h4>
      <dl className="pairs">
        <dt>{t.publicKey}</dt>
        <dd>
          <code className="key">{peer.publicKey}</code>
        </dd>
        <dt>{t.endpoint}</dt>
        <dd>{endpoint ?? t.none}</dd>
        <dt>{t.allowedIps}</dt>
        <dd>
          {peer.allowedIps.length > 0 ? (
            <ul className="chips">
              {peer.allowedIps.map((prefix) => (
                <li key={prefixText(prefix)} className="chip">
                  {prefixText(prefix)}
                </li>
              ))}
            </ul>
          ) : (
            t.none
          )}
        </dd>
        {peer.hasPresharedKey && (
          <>
            <dt>{t.presharedKey}</dt>
            <dd>{t.presharedKeyYes}</dd>
          </>
        )}
        {peer.persistentKeepalive !== undefined && (
          <>
            <dt>{t.keepalive}</dt>
            <dd>{t.keepaliveEvery(peer.persistentKeepalive)}</dd>
          </>
        )}
        {status && (
          <>
            <dt>{t.latestHandshake}</dt>
            <dd>{status.latestHandshake ? formatAge(status.latestHandshake, now) : t.never}</dd>
            <dt>{t.transfer}</dt>
            <dd>{t.transferValue(formatBytes(status.rxBytes), formatBytes(status.txBytes))}</dd>
          </>
        )}
      </dl>
    </div>
  );
}
