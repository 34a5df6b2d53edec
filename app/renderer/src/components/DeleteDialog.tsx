// "Delete tunnel X?" with Delete and Cancel.

import { useState } from 'react';
import { failure, invoke, sentence } from '../api.ts';
import { isActive } from '../lib/format.ts';
import { forgetTunnel, useTunnels } from '../stores/tunnels.ts';
import { closeDialog, notify } from '../stores/ui.ts';
import { strings } from '../strings.ts';
import { Dialog } from './Dialog.tsx';

const t = strings.deleteDialog;

export function DeleteDialog({ name }: { name: string }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const active = useTunnels((state) => isActive(state.statuses[name]?.state ?? 'disconnected'));

  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await invoke('tunnels.delete', { name });
      forgetTunnel(name);
      closeDialog();
      notify(t.deleted(name));
    } catch (caught) {
      setBusy(false);
      setError(sentence(failure(caught).message));
    }
  };

  return (
    <Dialog title={t.title(name)} description={t.body} onClose={closeDialog} size="small" busy={busy}>
      {active && <p className="note note-warning">{t.connectedNote}</p>}
      {error && (
        <p role="alert" className="field-error">
          {error}
        </p>
      )}
      <div className="dialog-actions">
        <button
          type="button"
          className="button button-secondary"
          onClick={closeDialog}
          disabled={busy}
          data-autofocus=""
        >
          {strings.dialog.cancel}
        </button>
        <button
          type="button"
          className="button button-danger"
          onClick={confirm}
          disabled={busy}
          aria-busy={busy}
        >
          {busy ? t.deleting : t.confirm}
        </button>
      </div>
    </Dialog>
  );
}
