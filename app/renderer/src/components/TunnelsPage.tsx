// The Tunnels page: loading, error and empty states, else the list on the left and the selected
// tunnel on the right.

import { useRef, type KeyboardEvent } from 'react';
import { useShallow } from 'zustand/react/shallow';
import type { TunnelState, TunnelSummary } from '../../../../shared/src/control/protocol.ts';
import { isActive, stateText } from '../lib/format.ts';
import { hasNoPeer, withPeerState } from '../lib/peers.ts';
import { moveIndex } from '../lib/keyboard.ts';
import { carriedText } from '../lib/transport.ts';
import { loadTunnels, select, useTunnels } from '../stores/tunnels.ts';
import { openDialog } from '../stores/ui.ts';
import { strings } from '../strings.ts';
import { AlertIcon, ImportIcon, LogoIcon, PlusIcon, RefreshIcon, Spinner } from './icons.tsx';
import { TunnelDetail } from './TunnelDetail.tsx';

const t = strings.tunnels;

export function openImport(): void {
  openDialog({ kind: 'import', name: '', text: '', fileName: null });
}

export function TunnelsPage() {
  const { load, loadError, count, selected } = useTunnels(
    useShallow((state) => ({
      load: state.load,
      loadError: state.loadError,
      count: state.summaries.length,
      selected: state.selected,
    })),
  );

  if (load === 'loading' && count === 0) {
    return (
      <div className="center-panel" aria-busy="true">
        <Spinner />
        <p>{t.loading}</p>
      </div>
    );
  }
  if (load === 'error' && count === 0) {
    return (
      <div className="center-panel">
        <div className="panel-icon panel-icon-error">
          <AlertIcon size={28} />
        </div>
        <h2>{t.loadFailed}</h2>
        <p role="alert" className="muted">
          {loadError}
        </p>
        <button type="button" className="button button-secondary" onClick={() => void loadTunnels(true)}>
          <RefreshIcon size={16} />
          {t.retry}
        </button>
      </div>
    );
  }
  if (count === 0) return <EmptyState />;

  return (
    <div className="split">
      <aside className="sidebar">
        <TunnelList />
        <div className="sidebar-actions">
          <AddTunnelButtons
            importClass="button button-secondary button-block"
            createClass="button button-secondary button-block"
          />
        </div>
      </aside>
      <div className="detail-pane">
        {selected ? (
          <TunnelDetail key={selected} name={selected} />
        ) : (
          <p className="muted">{t.noSelection}</p>
        )}
      </div>
    </div>
  );
}

/** "Import tunnel" and "Create tunnel", under the list and on the empty page. */
function AddTunnelButtons({ importClass, createClass }: { importClass: string; createClass: string }) {
  return (
    <>
      <button type="button" className={importClass} onClick={openImport}>
        <ImportIcon size={16} />
        {t.importTunnel}
      </button>
      <button type="button" className={createClass} onClick={() => openDialog({ kind: 'create' })}>
        <PlusIcon size={16} />
        {t.createTunnel}
      </button>
    </>
  );
}

function EmptyState() {
  return (
    <div className="center-panel empty">
      <div className="empty-art" aria-hidden="true">
        <LogoIcon size={72} />
      </div>
      <h2>{t.emptyTitle}</h2>
      <p className="muted empty-body">{t.emptyBody}</p>
      <div className="empty-actions">
        <AddTunnelButtons importClass="button button-primary" createClass="button button-secondary" />
      </div>
      <p className="muted small">{t.dropHint}</p>
    </div>
  );
}

/** The state a row shows: what the user asked for until the helper answers. */
function shownState(summary: TunnelSummary, reported: TunnelState | undefined, pending: string | undefined) {
  const state = reported ?? summary.state;
  if (pending === 'connect' && !isActive(state)) return 'connecting';
  if (pending === 'disconnect' && isActive(state)) return 'disconnecting';
  return state;
}

/** A listbox: arrow keys, Home and End move the selection; the selected row is the one tab stop. */
function TunnelList() {
  const { summaries, selected, states, pending, configs } = useTunnels(
    useShallow((state) => ({
      summaries: state.summaries,
      selected: state.selected,
      states: state.statuses,
      pending: state.pending,
      configs: state.configs,
    })),
  );
  const list = useRef<HTMLUListElement>(null);

  const move = (event: KeyboardEvent) => {
    const index = summaries.findIndex((summary) => summary.name === selected);
    const next = moveIndex(event.key, index, summaries.length, 'vertical');
    if (next === null) return;
    event.preventDefault();
    const name = summaries[next]?.name;
    if (!name) return;
    select(name);
    list.current?.querySelectorAll<HTMLElement>('[role="option"]')[next]?.focus();
  };

  return (
    <ul ref={list} className="tunnel-list" role="listbox" aria-label={t.listLabel} onKeyDown={move}>
      {summaries.map((summary) => {
        const state = withPeerState(
          shownState(summary, states[summary.name]?.state, pending[summary.name]),
          hasNoPeer(configs[summary.name]),
        );
        const isSelected = summary.name === selected;
        // A tunnel that is up says what carries it (UDP or the relay); one that is down, where it goes.
        const carried = state === 'connected' ? states[summary.name]?.transport : undefined;
        return (
          <li
            key={summary.name}
            role="option"
            aria-selected={isSelected}
            tabIndex={isSelected || (!selected && summary === summaries[0]) ? 0 : -1}
            className={`tunnel-row${isSelected ? ' selected' : ''}`}
            onClick={() => select(summary.name)}
          >
            <span className={`dot dot-${state}`} aria-hidden="true" />
            <span className="tunnel-row-text">
              <span className="tunnel-row-name">{summary.name}</span>
              <span className="tunnel-row-sub" title={carried?.reason}>
                {carried ? carriedText(carried) : (summary.endpoints[0] ?? summary.addresses[0] ?? '')}
              </span>
            </span>
            <span className={`badge badge-${state}`}>{stateText(state)}</span>
          </li>
        );
      })}
    </ul>
  );
}
