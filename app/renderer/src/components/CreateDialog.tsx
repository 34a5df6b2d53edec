// "Create tunnel": a name, then the helper makes a key pair and we show the public key to hand to
// the server.

import { useRef, useState, type FormEvent } from 'react';
import type { TunnelSummary } from '../../../../shared/src/control/protocol.ts';
import { failure, invoke, sentence } from '../api.ts';
import { nameProblem } from '../lib/config.ts';
import { showCreated, useTunnels } from '../stores/tunnels.ts';
import { closeDialog, openDialog } from '../stores/ui.ts';
import { strings } from '../strings.ts';
import { CopyButton } from './CopyButton.tsx';
import { Dialog, FormActions } from './Dialog.tsx';
import { TunnelNameField } from './TunnelNameField.tsx';
import { ShieldCheckIcon } from './icons.tsx';

const t = strings.createDialog;

export function CreateDialog() {
  const [name, setName] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<TunnelSummary | null>(null);
  const input = useRef<HTMLInputElement>(null);
  const summaries = useTunnels((state) => state.summaries);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const problem = nameProblem(
      name,
      summaries.map((summary) => summary.name),
    );
    setError(problem);
    if (problem) {
      input.current?.focus();
      return;
    }
    setBusy(true);
    try {
      const summary = await invoke('tunnels.create', { name });
      showCreated(summary);
      setCreated(summary);
    } catch (caught) {
      setError(sentence(failure(caught).message));
      input.current?.focus();
    } finally {
      setBusy(false);
    }
  };

  if (created) {
    return (
      // A new key remounts the dialog, so focus moves to Done.
      <Dialog key="created" title={t.title} onClose={closeDialog} size="medium">
        <div className="created">
          <p className="created-title">
            <ShieldCheckIcon size={22} />
            {t.created(created.name)}
          </p>
          <p>{t.publicKeyIntro}</p>
          <code className="key-block">{created.publicKey}</code>
          <CopyButton text={created.publicKey} />
          <p className="muted">{t.intro}</p>
        </div>
        <div className="dialog-actions">
          <button
            type="button"
            className="button button-secondary"
            onClick={() => openDialog({ kind: 'edit', name: created.name })}
          >
            {t.editNow}
          </button>
          <button type="button" className="button button-primary" onClick={closeDialog} data-autofocus="">
            {strings.dialog.done}
          </button>
        </div>
      </Dialog>
    );
  }

  return (
    <Dialog title={t.title} description={t.intro} onClose={closeDialog} size="small" busy={busy}>
      <form className="form" onSubmit={submit} noValidate>
        <TunnelNameField
          value={name}
          error={error}
          inputRef={input}
          onChange={(value) => {
            setName(value);
            setError(null);
          }}
        />
        <FormActions busy={busy} label={t.submit} busyLabel={t.submitting} />
      </form>
    </Dialog>
  );
}
