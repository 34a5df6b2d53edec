// "Export": the tunnel's wg-quick file through a save dialog, either without its private key (to look
// at or share) or as a full backup with it, which the helper gives to root only. A refusal is shown
// here, saying why and how to make the backup anyway.

import { useId, useState, type FormEvent } from 'react';
import { failure, sentence } from '../api.ts';
import { exportProblem } from '../lib/export.ts';
import { exportTunnel } from '../stores/tunnels.ts';
import { closeDialog } from '../stores/ui.ts';
import { strings } from '../strings.ts';
import { Dialog, FormActions } from './Dialog.tsx';

const t = strings.exportDialog;

export function ExportDialog({ name }: { name: string }) {
  const [full, setFull] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const ids = { public: useId(), full: useId(), publicHelp: useId(), fullHelp: useId() };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await exportTunnel(name, full);
      closeDialog();
    } catch (caught) {
      const problem = failure(caught);
      setError(exportProblem({ ...problem, message: sentence(problem.message) }, name, full));
      setBusy(false);
    }
  };

  const option = (value: boolean, id: string, helpId: string, label: string, help: string) => (
    <div className="choice">
      <input
        type="radio"
        id={id}
        name="export-kind"
        checked={full === value}
        onChange={() => {
          setFull(value);
          setError(null);
        }}
        aria-describedby={helpId}
        data-autofocus={value === false ? '' : undefined}
      />
      <div>
        <label htmlFor={id} className="choice-label">
          {label}
        </label>
        <p id={helpId} className="muted small">
          {help}
        </p>
      </div>
    </div>
  );

  return (
    <Dialog title={t.title(name)} onClose={closeDialog} size="small" busy={busy}>
      <form className="form" onSubmit={submit} noValidate>
        <fieldset className="choices">
          <legend className="field-label">{t.choice}</legend>
          {option(false, ids.public, ids.publicHelp, t.public, t.publicHelp)}
          {option(true, ids.full, ids.fullHelp, t.full, t.fullHelp)}
        </fieldset>
        {error && (
          <p role="alert" className="field-error">
            {error}
          </p>
        )}
        <FormActions busy={busy} label={t.submit} busyLabel={t.submitting} />
      </form>
    </Dialog>
  );
}
