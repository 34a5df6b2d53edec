// What to show while the app cannot use the helper: one full-width panel per state, each with its
// fix. `compact` is the banner form used above the Settings page.

import { useShallow } from 'zustand/react/shallow';
import { fixHelper, useHelper } from '../stores/helper.ts';
import { strings } from '../strings.ts';
import { AlertIcon, LockIcon, PowerIcon, RefreshIcon, Spinner } from './icons.tsx';

const t = strings.helper;

export function HelperGate({ compact = false }: { compact?: boolean }) {
  const { connection, bridgeError, hostProblem, fixing, fixRequested, fixError } = useHelper(
    useShallow((state) => ({
      connection: state.connection,
      bridgeError: state.bridgeError,
      hostProblem: state.hostProblem,
      fixing: state.fixing,
      fixRequested: state.fixRequested,
      fixError: state.fixError,
    })),
  );

  let icon = <Spinner />;
  let title: string = t.connectingTitle;
  let body: string = connection.message ?? t.connectingBody;
  let tone = 'info';
  /** The browser host's address to open again, shown under a host problem. */
  let address: string | null = null;
  if (hostProblem) {
    const tokenProblem = hostProblem === 'no-token' || hostProblem === 'token-refused';
    icon = tokenProblem ? <LockIcon size={28} /> : <PowerIcon size={28} />;
    title = strings.host[hostProblem].title;
    body = strings.host[hostProblem].body;
    address = strings.host.address(window.location.host);
    tone = tokenProblem ? 'warning' : 'error';
  } else if (bridgeError) {
    icon = <AlertIcon size={28} />;
    title = t.bridgeMissingTitle;
    body = `${t.bridgeMissingBody} (${bridgeError})`;
    tone = 'error';
  } else if (connection.state === 'unavailable') {
    icon = <PowerIcon size={28} />;
    title = t.unavailableTitle;
    body = connection.message ?? t.unavailableBody;
    tone = 'error';
  } else if (connection.state === 'out-of-date') {
    icon = <RefreshIcon size={28} />;
    title = t.outOfDateTitle;
    body = connection.message ?? t.outOfDateBody;
    tone = 'warning';
  } else if (connection.state === 'unauthorized') {
    icon = <LockIcon size={28} />;
    title = t.unauthorizedTitle;
    body = connection.message ?? t.unauthorizedBody;
    tone = 'warning';
  }
  const canStart = !hostProblem && !bridgeError && connection.state === 'unavailable' && connection.canFix;

  return (
    <section
      className={compact ? `helper-banner helper-${tone}` : `helper-page helper-${tone}`}
      aria-labelledby="helper-title"
      aria-busy={connection.state === 'connecting' && !bridgeError && !hostProblem}
    >
      <div className="helper-icon">{icon}</div>
      <div className="helper-text">
        {compact ? <h4 id="helper-title">{title}</h4> : <h2 id="helper-title">{title}</h2>}
        <p>{body}</p>
        {address && (
          <p>
            <code className="host-address">{address}</code>
          </p>
        )}
        {compact && !hostProblem && <p className="muted">{t.settingsNeedHelper}</p>}
        {canStart && (
          <div className="helper-actions">
            <button
              type="button"
              className="button button-primary"
              onClick={() => void fixHelper()}
              disabled={fixing}
              aria-busy={fixing}
            >
              {fixing ? t.startingHelper : t.startHelper}
            </button>
          </div>
        )}
        {fixRequested && <p aria-live="polite">{t.startRequested}</p>}
        {fixError && (
          <p role="alert" className="field-error">
            {fixError}
          </p>
        )}
      </div>
    </section>
  );
}
