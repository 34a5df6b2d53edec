// "Edit": the tunnel's text from tunnels.text (without PrivateKey: the helper keeps the key) in the
// line-numbered editor, checked as you type, saved with tunnels.update. A tunnel without a [Peer] is
// offered a template for one (opened with it already added from "Add a peer…").

import { useEffect, useId, useMemo, useRef, useState, type FormEvent } from 'react';
import { failure, invoke, sentence, type Failure } from '../api.ts';
import { configProblems, helperProblem, type EditorProblem } from '../lib/config.ts';
import { isActive } from '../lib/format.ts';
import { addPeerTemplate, hasPeerSection } from '../lib/peers.ts';
import { useTunnels } from '../stores/tunnels.ts';
import { closeDialog, notify } from '../stores/ui.ts';
import { strings } from '../strings.ts';
import { ConfigEditor, ProblemList, type ConfigEditorHandle } from './ConfigEditor.tsx';
import { Dialog, FormActions } from './Dialog.tsx';
import { CheckIcon, LockIcon, PlusIcon, Spinner } from './icons.tsx';

const t = strings.editDialog;

export function EditDialog({ name, addPeer = false }: { name: string; addPeer?: boolean }) {
  const [text, setText] = useState<string | null>(null);
  /** The line of the template's PublicKey once one was added: the caret goes there. */
  const [templateLine, setTemplateLine] = useState<number | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [helperError, setHelperError] = useState<Failure | null>(null);
  const [busy, setBusy] = useState(false);
  const editor = useRef<ConfigEditorHandle>(null);
  const ids = { text: useId(), problems: useId() };
  const active = useTunnels((state) => isActive(state.statuses[name]?.state ?? 'disconnected'));

  useEffect(() => {
    let live = true;
    invoke('tunnels.text', { name }).then(
      (result) => {
        if (!live) return;
        if (addPeer && !hasPeerSection(result.text)) {
          const added = addPeerTemplate(result.text);
          setText(added.text);
          setTemplateLine(added.line);
        } else setText(result.text);
      },
      (error: unknown) => live && setLoadError(sentence(failure(error).message)),
    );
    return () => {
      live = false;
    };
  }, [name, addPeer]);

  // The text arrives after the dialog opened: put the caret in it then (at the template, if added).
  const loaded = text !== null;
  useEffect(() => {
    if (loaded) editor.current?.goToLine(templateLine ?? 1);
  }, [loaded, templateLine]);

  const insertTemplate = () => {
    if (text === null) return;
    const added = addPeerTemplate(text);
    setText(added.text);
    setHelperError(null);
    setTemplateLine(added.line);
  };

  const problems = useMemo<EditorProblem[]>(() => {
    const list = text === null ? [] : configProblems(text, 'edit');
    if (helperError?.line !== undefined && !list.some((problem) => problem.line === helperError.line))
      return [...list, helperProblem(helperError.message, helperError.line)];
    return list;
  }, [text, helperError]);

  const save = async (event: FormEvent) => {
    event.preventDefault();
    if (text === null) return;
    if (problems.length > 0) {
      editor.current?.goToLine(problems[0].line);
      return;
    }
    setBusy(true);
    setHelperError(null);
    try {
      await invoke('tunnels.update', { name, text });
      closeDialog();
      notify(t.saved(name));
    } catch (error) {
      setBusy(false);
      setHelperError(failure(error));
    }
  };

  const generalError = helperError && helperError.line === undefined ? sentence(helperError.message) : null;

  return (
    <Dialog title={t.title(name)} onClose={closeDialog} size="large" busy={busy}>
      {text === null ? (
        loadError ? (
          <p role="alert" className="field-error">
            {loadError}
          </p>
        ) : (
          <p className="loading-line">
            <Spinner />
            {t.loading}
          </p>
        )
      ) : (
        <form className="form" onSubmit={save} noValidate>
          <p className="note">
            <LockIcon size={16} />
            {t.keyKept}
          </p>
          {active && <p className="note note-warning">{t.reconnectNote}</p>}
          {!hasPeerSection(text) && (
            <div className="note note-action">
              <span>{t.noPeer}</span>
              <button type="button" className="button button-secondary" onClick={insertTemplate}>
                <PlusIcon size={16} />
                {t.addPeer}
              </button>
            </div>
          )}
          {templateLine !== null && hasPeerSection(text) && (
            <p className="note" aria-live="polite">
              {t.peerAdded}
            </p>
          )}
          <ConfigEditor
            ref={editor}
            id={ids.text}
            label={t.configuration}
            value={text}
            onChange={(value) => {
              setText(value);
              setHelperError(null);
            }}
            problems={problems}
            describedBy={ids.problems}
            rows={16}
          />
          <ProblemList
            id={ids.problems}
            title={t.errorsTitle(problems.length)}
            problems={problems}
            onGoTo={(line) => editor.current?.goToLine(line)}
          />
          {problems.length === 0 && !generalError && (
            <p className="valid-line">
              <CheckIcon size={16} />
              {t.valid}
            </p>
          )}
          {generalError && (
            <p role="alert" className="field-error">
              {generalError}
            </p>
          )}
          <FormActions busy={busy} label={t.save} busyLabel={t.saving} />
        </form>
      )}
    </Dialog>
  );
}
