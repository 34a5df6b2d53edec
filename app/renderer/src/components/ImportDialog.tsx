// "Import tunnel": a name, a config (pasted, chosen with the native file dialog, or dropped on the
// window) and Import. Problems found by checkConfig or by the helper are listed with their lines.

import { useId, useMemo, useRef, useState, type FormEvent } from 'react';
import { failure, invoke, sentence, type Failure } from '../api.ts';
import { useDebounced } from '../hooks.ts';
import {
  configProblems,
  helperProblem,
  nameFromFile,
  nameProblem,
  type EditorProblem,
} from '../lib/config.ts';
import { showCreated, useTunnels } from '../stores/tunnels.ts';
import { closeDialog, notify } from '../stores/ui.ts';
import { strings } from '../strings.ts';
import { ConfigEditor, ProblemList, type ConfigEditorHandle } from './ConfigEditor.tsx';
import { Dialog, FormActions } from './Dialog.tsx';
import { TunnelNameField } from './TunnelNameField.tsx';
import { FileIcon } from './icons.tsx';

const t = strings.importDialog;

export function ImportDialog(props: { name: string; text: string; fileName: string | null }) {
  const [name, setName] = useState(props.name);
  const [nameTouched, setNameTouched] = useState(props.name !== '');
  const [text, setText] = useState(props.text);
  const [fileName, setFileName] = useState(props.fileName);
  const [fileError, setFileError] = useState<string | null>(null);
  const [submitted, setSubmitted] = useState(false);
  const [nameError, setNameError] = useState<string | null>(null);
  const [helperError, setHelperError] = useState<Failure | null>(null);
  const [busy, setBusy] = useState(false);
  const editor = useRef<ConfigEditorHandle>(null);
  const nameInput = useRef<HTMLInputElement>(null);
  const ids = { text: useId(), problems: useId() };
  const existing = useTunnels((state) => state.summaries).map((summary) => summary.name);

  // Live checks settle after a pause in typing; Import checks the text as it is.
  const settled = useDebounced(text, 300);
  const liveProblems = useMemo<EditorProblem[]>(
    () => (settled.trim() === '' ? [] : configProblems(settled, 'import')),
    [settled],
  );
  const problems: EditorProblem[] = useMemo(() => {
    const list = submitted && text.trim() !== '' ? configProblems(text, 'import') : liveProblems;
    if (helperError?.line !== undefined && !list.some((problem) => problem.line === helperError.line))
      return [...list, helperProblem(helperError.message, helperError.line)];
    return list;
  }, [submitted, text, liveProblems, helperError]);

  const setConfig = (next: string, file: string | null) => {
    setText(next);
    setFileName(file);
    setHelperError(null);
    if (file && (!nameTouched || name === '')) setName(nameFromFile(file));
  };

  const chooseFile = async () => {
    setFileError(null);
    try {
      const file = await invoke('app.openConfigFile', {});
      if (file) setConfig(file.text, file.name);
    } catch (error) {
      setFileError(t.fileFailed(sentence(failure(error).message)));
    }
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setSubmitted(true);
    setHelperError(null);
    const badName = nameProblem(name, existing);
    setNameError(badName);
    const found = text.trim() === '' ? [] : configProblems(text, 'import');
    if (badName) {
      nameInput.current?.focus();
      return;
    }
    if (text.trim() === '' || found.length > 0) {
      if (found.length > 0) editor.current?.goToLine(found[0].line);
      return;
    }
    setBusy(true);
    try {
      const summary = await invoke('tunnels.import', { name, text });
      showCreated(summary);
      closeDialog();
      notify(strings.importDialog.imported(summary.name));
    } catch (error) {
      const problem = failure(error);
      setBusy(false);
      if (problem.code === 'TUNNEL_EXISTS') setNameError(sentence(problem.message));
      else setHelperError(problem);
    }
  };

  const emptyError = submitted && text.trim() === '';
  const generalError = helperError && helperError.line === undefined ? sentence(helperError.message) : null;

  return (
    <Dialog title={t.title} description={t.intro} onClose={closeDialog} size="large" busy={busy}>
      <form className="form" onSubmit={submit} noValidate>
        <TunnelNameField
          value={name}
          error={nameError}
          inputRef={nameInput}
          onChange={(value) => {
            setName(value);
            setNameTouched(true);
            setNameError(null);
          }}
        />

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
          placeholder={t.placeholder}
        />

        <div className="file-row">
          <button type="button" className="button button-secondary" onClick={chooseFile} disabled={busy}>
            <FileIcon />
            {t.chooseFile}
          </button>
          {fileName && !fileError && <span className="muted">{t.fileLoaded(fileName)}</span>}
        </div>
        {fileError && (
          <p role="alert" className="field-error">
            {fileError}
          </p>
        )}

        <ProblemList
          id={ids.problems}
          title={t.errorsTitle(problems.length)}
          problems={problems}
          onGoTo={(line) => editor.current?.goToLine(line)}
        />
        {(emptyError || generalError) && (
          <p role="alert" className="field-error">
            {emptyError ? t.emptyText : generalError}
          </p>
        )}

        <FormActions busy={busy} label={t.submit} busyLabel={t.submitting} />
      </form>
    </Dialog>
  );
}
