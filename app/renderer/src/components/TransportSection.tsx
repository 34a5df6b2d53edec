// The "Transport" card of a tunnel's detail: how its datagrams travel as the helper stores it (UDP, or
// a relay with its fallback, proxy without the password, and the certificates' subjects), and the
// button that opens the transport dialog.

import { useTransports } from '../stores/transports.ts';
import { openDialog } from '../stores/ui.ts';
import { strings } from '../strings.ts';
import { EditIcon, Spinner } from './icons.tsx';

const t = strings.transport;

export function TransportSection({ name }: { name: string }) {
  const transport = useTransports((state) => state.transports[name]);
  const error = useTransports((state) => state.errors[name]);

  return (
    <section className="card" aria-labelledby="transport-title">
      <div className="card-head">
        <h3 id="transport-title" className="card-title">
          {t.section}
        </h3>
        <button
          type="button"
          className="button button-ghost button-small"
          onClick={() => openDialog({ kind: 'transport', name })}
        >
          <EditIcon size={16} />
          {t.change}
        </button>
      </div>
      {transport ? (
        <dl className="pairs" data-testid="transport">
          <dt>{t.choice}</dt>
          <dd>{transport.kind === 'udp' ? t.udpSummary : t.relay}</dd>
          {transport.kind === 'relay' && (
            <>
              <dt>{t.relayUrl}</dt>
              <dd>
                <code className="key">{transport.url}</code>
              </dd>
              <dt>{t.fallback}</dt>
              <dd>{transport.fallback ? t.fallbackOn : t.fallbackOff}</dd>
              {transport.proxy && (
                <>
                  <dt>{t.proxy}</dt>
                  <dd>
                    <code className="key">{transport.proxy}</code>
                  </dd>
                </>
              )}
              {transport.clientCertificate && (
                <>
                  <dt>{t.clientCertificate}</dt>
                  <dd>{transport.clientCertificate}</dd>
                </>
              )}
              {transport.ca && (
                <>
                  <dt>{t.ca}</dt>
                  <dd>{transport.ca}</dd>
                </>
              )}
            </>
          )}
        </dl>
      ) : error ? (
        <p role="alert" className="field-error">
          {t.loadFailed(error)}
        </p>
      ) : (
        <p className="loading-line">
          <Spinner />
          {t.loading}
        </p>
      )}
    </section>
  );
}
