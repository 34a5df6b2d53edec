// The window: header (name, overall state, sections), the page, dialogs, a drop target for .conf
// files and a line for short confirmations.

import { useEffect, useRef, type KeyboardEvent } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { nameFromFile } from '../lib/config.ts';
import { hasNoPeer } from '../lib/peers.ts';
import { moveIndex } from '../lib/keyboard.ts';
import { useHelper } from '../stores/helper.ts';
import { useAppSettings } from '../stores/settings.ts';
import { BlockingBanner } from './BlockingBanner.tsx';
import { useTunnels } from '../stores/tunnels.ts';
import { closeDialog, dismissNotice, navigate, notify, openDialog, type Page, useUi } from '../stores/ui.ts';
import { strings } from '../strings.ts';
import { CreateDialog } from './CreateDialog.tsx';
import { DeleteDialog } from './DeleteDialog.tsx';
import { EditDialog } from './EditDialog.tsx';
import { ExportDialog } from './ExportDialog.tsx';
import { HelperGate } from './HelperGate.tsx';
import { CloseIcon, ImportIcon, LogoIcon } from './icons.tsx';
import { ImportDialog } from './ImportDialog.tsx';
import { LogsPage } from './LogsPage.tsx';
import { SettingsPage } from './SettingsPage.tsx';
import { TransportDialog } from './TransportDialog.tsx';
import { TunnelsPage } from './TunnelsPage.tsx';

const PAGES: Page[] = ['tunnels', 'logs', 'settings'];

export function App() {
  const { page, dialog, dialogKey, dragging } = useUi(
    useShallow((state) => ({
      page: state.page,
      dialog: state.dialog,
      dialogKey: state.dialogKey,
      dragging: state.dragging,
    })),
  );
  const helperReady = useHelper(
    (state) => state.connection.state === 'connected' && !state.bridgeError && !state.hostProblem,
  );
  useTheme();
  useDropImport(helperReady);

  return (
    <>
      <div className="app" inert={dialog !== null} aria-hidden={dialog !== null ? true : undefined}>
        <Header page={page} />
        {helperReady && <BlockingBanner />}
        <main className="main" id={`panel-${page}`} role="tabpanel" aria-labelledby={`tab-${page}`}>
          {page === 'settings' ? (
            <SettingsPage />
          ) : !helperReady ? (
            <HelperGate />
          ) : page === 'logs' ? (
            <LogsPage />
          ) : (
            <TunnelsPage />
          )}
        </main>
        <Notice />
        {dragging && helperReady && (
          <div className="drop-overlay" aria-hidden="true">
            <div className="drop-card">
              <ImportIcon size={36} />
              <p className="drop-title">{strings.drop.title}</p>
              <p className="muted">{strings.drop.body}</p>
            </div>
          </div>
        )}
      </div>
      {dialog?.kind === 'import' && (
        <ImportDialog key={dialogKey} name={dialog.name} text={dialog.text} fileName={dialog.fileName} />
      )}
      {dialog?.kind === 'create' && <CreateDialog key={dialogKey} />}
      {dialog?.kind === 'edit' && (
        <EditDialog key={dialogKey} name={dialog.name} addPeer={dialog.addPeer ?? false} />
      )}
      {dialog?.kind === 'export' && <ExportDialog key={dialogKey} name={dialog.name} />}
      {dialog?.kind === 'transport' && <TransportDialog key={dialogKey} name={dialog.name} />}
      {dialog?.kind === 'delete' && <DeleteDialog key={dialogKey} name={dialog.name} />}
    </>
  );
}

function Header({ page }: { page: Page }) {
  const tabs = useRef<Array<HTMLButtonElement | null>>([]);
  const onKeyDown = (event: KeyboardEvent) => {
    const index = PAGES.indexOf(page);
    const next = moveIndex(event.key, index, PAGES.length, 'horizontal');
    if (next === null) return;
    event.preventDefault();
    navigate(PAGES[next]);
    tabs.current[next]?.focus();
  };

  return (
    <header className="header">
      <div className="brand">
        <LogoIcon size={26} />
        <h1 className="brand-name">{strings.appName}</h1>
      </div>
      <nav className="nav" aria-label={strings.nav.label}>
        <div role="tablist" aria-label={strings.nav.label} className="tabs" onKeyDown={onKeyDown}>
          {PAGES.map((item, index) => (
            <button
              key={item}
              ref={(element) => {
                tabs.current[index] = element;
              }}
              id={`tab-${item}`}
              type="button"
              role="tab"
              aria-selected={page === item}
              aria-controls={page === item ? `panel-${item}` : undefined}
              tabIndex={page === item ? 0 : -1}
              className={page === item ? 'tab tab-selected' : 'tab'}
              onClick={() => navigate(item)}
            >
              {strings.nav[item]}
            </button>
          ))}
        </div>
      </nav>
      <OverallState />
    </header>
  );
}

/** One phrase for the whole app: connected (to what), connecting, not connected, or no helper. */
function OverallState() {
  const { helperState, hostProblem, bridgeError } = useHelper(
    useShallow((state) => ({
      helperState: state.connection.state,
      hostProblem: state.hostProblem,
      bridgeError: state.bridgeError !== null,
    })),
  );
  const { connected, anyConnecting, anyReconnecting, anyError } = useTunnels(
    useShallow((state) => {
      // A tunnel without a peer is not "connecting" to anything (the detail says it has no peer).
      const statuses = Object.values(state.statuses).filter(
        (status) => !hasNoPeer(state.configs[status.name]),
      );
      return {
        // A string, not an array: useShallow compares the values with Object.is.
        connected: statuses
          .filter((status) => status.state === 'connected')
          .map((status) => status.name)
          .join('\n'),
        anyConnecting:
          statuses.some((status) => status.state === 'connecting') ||
          Object.values(state.pending).includes('connect'),
        anyReconnecting: statuses.some((status) => status.state === 'reconnecting'),
        anyError: statuses.some((status) => status.state === 'error'),
      };
    }),
  );
  const o = strings.overall;
  let tone = 'off';
  let text: string = o.disconnected;
  if (hostProblem) {
    tone = 'error';
    text = o.host[hostProblem];
  } else if (bridgeError) {
    tone = 'error';
    text = o.appLinkMissing;
  } else if (helperState !== 'connected') {
    tone = helperState === 'connecting' ? 'busy' : 'error';
    text = helperState === 'connecting' ? o.helperConnecting : o.helperDown;
  } else if (connected !== '') {
    tone = 'on';
    text = o.connected(connected.split('\n'));
  } else if (anyReconnecting) {
    tone = 'busy';
    text = o.reconnecting;
  } else if (anyConnecting) {
    tone = 'busy';
    text = o.connecting;
  } else if (anyError) {
    tone = 'error';
    text = o.error;
  }
  return (
    <p className={`overall overall-${tone}`}>
      <span className="overall-dot" aria-hidden="true" />
      <span className="sr-only">{`${o.label}: `}</span>
      {text}
    </p>
  );
}

function Notice() {
  const notice = useUi((state) => state.notice);
  return (
    <div className="notice-region" aria-live="polite">
      {notice && (
        <div className={`notice notice-${notice.tone}`}>
          <span>{notice.text}</span>
          <button
            type="button"
            className="icon-button"
            aria-label={strings.dialog.close}
            onClick={dismissNotice}
          >
            <CloseIcon size={16} />
          </button>
        </div>
      )}
    </div>
  );
}

/** The theme setting as a class on <html>; "system" leaves it to prefers-color-scheme. */
function useTheme() {
  const theme = useAppSettings((state) => state.settings?.theme ?? 'system');
  useEffect(() => {
    const root = document.documentElement;
    root.classList.toggle('theme-light', theme === 'light');
    root.classList.toggle('theme-dark', theme === 'dark');
  }, [theme]);
}

/** Dropping a .conf file anywhere on the window opens Import with it. */
function useDropImport(enabled: boolean) {
  useEffect(() => {
    // Even without a helper a dropped file must not replace the page (the browser's default).
    let depth = 0;
    const hasFiles = (event: DragEvent) => event.dataTransfer?.types.includes('Files') ?? false;
    const onEnter = (event: DragEvent) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      depth++;
      if (enabled) useUi.setState({ dragging: true });
    };
    const onOver = (event: DragEvent) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      if (event.dataTransfer) event.dataTransfer.dropEffect = enabled ? 'copy' : 'none';
    };
    const onLeave = (event: DragEvent) => {
      if (!hasFiles(event)) return;
      depth = Math.max(0, depth - 1);
      if (depth === 0) useUi.setState({ dragging: false });
    };
    const onDrop = (event: DragEvent) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      depth = 0;
      useUi.setState({ dragging: false });
      // Over an open editor (Edit, Create, Delete) a drop would throw away what is there.
      const open = useUi.getState().dialog;
      if (!enabled || (open && open.kind !== 'import')) return;
      const files = [...(event.dataTransfer?.files ?? [])];
      const file = files.find((item) => /\.conf$/i.test(item.name));
      if (!file) {
        notify(strings.drop.notConf, 'error');
        return;
      }
      file.text().then(
        (text) => {
          closeDialog();
          openDialog({ kind: 'import', name: nameFromFile(file.name), text, fileName: file.name });
        },
        (error: Error) => notify(strings.drop.readFailed(error.message), 'error'),
      );
    };
    window.addEventListener('dragenter', onEnter);
    window.addEventListener('dragover', onOver);
    window.addEventListener('dragleave', onLeave);
    window.addEventListener('drop', onDrop);
    return () => {
      window.removeEventListener('dragenter', onEnter);
      window.removeEventListener('dragover', onOver);
      window.removeEventListener('dragleave', onLeave);
      window.removeEventListener('drop', onDrop);
      useUi.setState({ dragging: false });
    };
  }, [enabled]);
}
