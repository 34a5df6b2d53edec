// "Change transport…": UDP, or a relay URL with its fallback, proxy and (for wss://) TLS client files.
// The files are picked by the app, not by this page: each "Choose file…" asks the main process, which
// opens the system's dialog, reads the file and answers with a token and the file's name. The key's
// contents never reach the renderer. Checked as you type (lib/transport.ts); the helper checks again.

import { useId, useRef, useState, type FormEvent, type Ref } from 'react';
import type { TransportFileKind } from '../../../../shared/src/ipc/schema.ts';
import { failure, sentence } from '../api.ts';
import { isActive } from '../lib/format.ts';
import {
  formFrom,
  isWss,
  transportProblems,
  transportRequest,
  transportSummary,
  type PickedFile,
  type TransportField,
  type TransportForm,
} from '../lib/transport.ts';
import { pickTransportFile, setTransport, useTransports } from '../stores/transports.ts';
import { useTunnels } from '../stores/tunnels.ts';
import { closeDialog, notify } from '../stores/ui.ts';
import { strings } from '../strings.ts';
import { Dialog, FormActions } from './Dialog.tsx';
import { CloseIcon, FileIcon, LockIcon } from './icons.tsx';

const t = strings.transport;

const FILE_LABEL: Record<TransportFileKind, string> = {
  clientCert: t.clientCertLabel,
  clientKey: t.clientKeyLabel,
  ca: t.caLabel,
};

export function TransportDialog({ name }: { name: string }) {
  const current = useTransports((state) => state.transports[name]);
  const active = useTunnels((state) => isActive(state.statuses[name]?.state ?? 'disconnected'));
  const [form, setForm] = useState<TransportForm>(() => formFrom(current));
  /** Fields whose problems are shown: those left once, and all after a submit. */
  const [shown, setShown] = useState<ReadonlySet<TransportField>>(new Set());
  const [submitted, setSubmitted] = useState(false);
  const [busy, setBusy] = useState(false);
  const [picking, setPicking] = useState<TransportFileKind | null>(null);
  const [fileError, setFileError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const urlInput = useRef<HTMLInputElement>(null);
  const proxyInput = useRef<HTMLInputElement>(null);
  const ids = {
    udp: useId(),
    relay: useId(),
    udpHelp: useId(),
    relayHelp: useId(),
    url: useId(),
    fallback: useId(),
    keep: useId(),
    proxy: useId(),
  };

  const problems = transportProblems(form);
  const visible = (field: TransportField) => (submitted || shown.has(field) ? problems[field] : undefined);
  const leave = (field: TransportField) => setShown((fields) => new Set(fields).add(field));
  const change = (changes: Partial<TransportForm>) => {
    setForm((previous) => ({ ...previous, ...changes }));
    setError(null);
  };
  const setFile = (kind: TransportFileKind, file: PickedFile | null) =>
    setForm((previous) => ({ ...previous, files: { ...previous.files, [kind]: file } }));

  const pick = async (kind: TransportFileKind) => {
    setPicking(kind);
    setFileError(null);
    try {
      const picked = await pickTransportFile(kind);
      if (picked) setFile(kind, picked);
    } catch (caught) {
      setFileError(t.chooseFailed(sentence(failure(caught).message)));
    } finally {
      setPicking(null);
    }
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setSubmitted(true);
    if (problems.url) return urlInput.current?.focus();
    if (problems.proxy) return proxyInput.current?.focus();
    if (Object.keys(problems).length > 0) return;
    setBusy(true);
    setError(null);
    const hadFiles = Object.values(form.files).some((file) => file !== null);
    try {
      const saved = await setTransport(transportRequest(name, form));
      closeDialog();
      notify(t.saved(name, transportSummary(saved)));
    } catch (caught) {
      // The app lets go of a picked file once it was sent (or refused): it must be chosen again.
      if (hadFiles)
        setForm((previous) => ({ ...previous, files: { clientCert: null, clientKey: null, ca: null } }));
      setError(`${sentence(failure(caught).message)}${hadFiles ? ` ${t.filesAgain}` : ''}`);
      setBusy(false);
    }
  };

  const option = (kind: TransportForm['kind'], id: string, helpId: string, label: string, help: string) => (
    <div className="choice">
      <input
        type="radio"
        id={id}
        name="transport-kind"
        checked={form.kind === kind}
        onChange={() => change({ kind })}
        aria-describedby={helpId}
        data-autofocus={form.kind === kind ? '' : undefined}
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

  const storedFiles =
    current?.kind === 'relay'
      ? [current.clientCertificate && t.clientCertificate.toLowerCase(), current.ca && 'CA']
          .filter((what): what is string => Boolean(what))
          .join(' and ')
      : '';
  const redactedProxy = current?.kind === 'relay' && current.proxy?.includes('***@');
  const wss = form.kind === 'relay' && isWss(form.url);

  return (
    <Dialog title={t.dialogTitle(name)} description={t.intro} onClose={closeDialog} size="medium" busy={busy}>
      <form className="form" onSubmit={submit} noValidate>
        <fieldset className="choices">
          <legend className="field-label">{t.choice}</legend>
          {option('udp', ids.udp, ids.udpHelp, t.udp, t.udpHelp)}
          {option('relay', ids.relay, ids.relayHelp, t.relay, t.relayHelp)}
        </fieldset>

        {form.kind === 'relay' && (
          <>
            <TextField
              id={ids.url}
              inputRef={urlInput}
              label={t.relayUrl}
              hint={t.urlHint}
              value={form.url}
              placeholder="wss://relay.example.com/wg"
              error={visible('url')}
              onChange={(url) => change({ url })}
              onBlur={() => leave('url')}
            />
            <div className="choice">
              <input
                type="checkbox"
                id={ids.fallback}
                checked={form.fallback}
                onChange={(event) => change({ fallback: event.target.checked })}
                aria-describedby={`${ids.fallback}-help`}
              />
              <div>
                <label htmlFor={ids.fallback} className="choice-label">
                  {t.fallbackLabel}
                </label>
                <p id={`${ids.fallback}-help`} className="muted small">
                  {t.fallbackHelp}
                </p>
              </div>
            </div>
            <TextField
              id={ids.proxy}
              inputRef={proxyInput}
              label={t.proxyLabel}
              hint={t.proxyHint}
              value={form.proxy}
              placeholder="http://proxy.example.com:3128"
              error={visible('proxy')}
              onChange={(proxy) => change({ proxy })}
              onBlur={() => leave('proxy')}
            />
            {redactedProxy && form.proxy === '' && !form.keepStored && (
              <p className="note note-warning">{t.proxyRetype}</p>
            )}
            {wss && (
              <fieldset className="choices">
                <legend className="field-label">{t.tlsTitle}</legend>
                <p className="note">
                  <LockIcon size={16} />
                  {t.tlsHelp}
                </p>
                {(['clientCert', 'clientKey', 'ca'] as const).map((kind) => (
                  <FileField
                    key={kind}
                    label={FILE_LABEL[kind]}
                    help={kind === 'ca' ? t.caHelp : undefined}
                    file={form.files[kind]}
                    error={visible(kind)}
                    disabled={busy || picking !== null}
                    busy={picking === kind}
                    onPick={() => void pick(kind)}
                    onRemove={() => setFile(kind, null)}
                  />
                ))}
                {fileError && (
                  <p role="alert" className="field-error">
                    {fileError}
                  </p>
                )}
              </fieldset>
            )}
          </>
        )}
        {form.kind === 'relay' && (storedFiles !== '' || redactedProxy) && (
          <div className="choice">
            <input
              type="checkbox"
              id={ids.keep}
              checked={form.keepStored}
              onChange={(event) => change({ keepStored: event.target.checked })}
              aria-describedby={`${ids.keep}-help`}
            />
            <div>
              <label htmlFor={ids.keep} className="choice-label">
                {t.keepLabel}
              </label>
              <p id={`${ids.keep}-help`} className="muted small">
                {t.keepHelp}
              </p>
            </div>
          </div>
        )}
        {storedFiles !== '' &&
          !form.keepStored &&
          !(wss && Object.values(form.files).some((file) => file !== null)) && (
            <p className="note note-warning">{t.filesReplaced(storedFiles)}</p>
          )}
        {active && <p className="note note-warning">{t.reconnectNote}</p>}
        {error && (
          <p role="alert" className="field-error">
            {error}
          </p>
        )}
        <FormActions busy={busy} label={t.save} busyLabel={t.saving} />
      </form>
    </Dialog>
  );
}

interface TextFieldProps {
  id: string;
  inputRef: Ref<HTMLInputElement>;
  label: string;
  hint: string;
  value: string;
  placeholder: string;
  error: string | undefined;
  onChange: (value: string) => void;
  onBlur: () => void;
}

function TextField({
  id,
  inputRef,
  label,
  hint,
  value,
  placeholder,
  error,
  onChange,
  onBlur,
}: TextFieldProps) {
  const helpId = `${id}-help`;
  const errorId = `${id}-error`;
  return (
    <div className="field">
      <label htmlFor={id} className="field-label">
        {label}
      </label>
      <input
        ref={inputRef}
        id={id}
        className="input"
        value={value}
        placeholder={placeholder}
        onChange={(event) => onChange(event.target.value)}
        onBlur={onBlur}
        autoComplete="off"
        spellCheck={false}
        aria-invalid={error !== undefined}
        aria-describedby={error ? `${errorId} ${helpId}` : helpId}
      />
      <p id={helpId} className="field-help">
        {hint}
      </p>
      {error && (
        <p id={errorId} role="alert" className="field-error">
          {error}
        </p>
      )}
    </div>
  );
}

interface FileFieldProps {
  label: string;
  help: string | undefined;
  file: PickedFile | null;
  error: string | undefined;
  disabled: boolean;
  busy: boolean;
  onPick: () => void;
  onRemove: () => void;
}

/** One file of the TLS section: its name once picked (the app holds the contents), or none. */
function FileField({ label, help, file, error, disabled, busy, onPick, onRemove }: FileFieldProps) {
  const id = useId();
  return (
    <div className="field" role="group" aria-labelledby={`${id}-label`}>
      <span id={`${id}-label`} className="field-label">
        {label}
      </span>
      {help && <p className="field-help">{help}</p>}
      <div className="file-row">
        <button
          type="button"
          className="button button-secondary"
          onClick={onPick}
          disabled={disabled}
          aria-busy={busy}
          aria-label={`${label}: ${t.choose}`}
        >
          <FileIcon />
          {t.choose}
        </button>
        <span className={file ? 'file-name' : 'muted'} data-testid="picked-file">
          {file ? file.fileName : t.noFile}
        </span>
        {file && (
          <button
            type="button"
            className="icon-button"
            onClick={onRemove}
            disabled={disabled}
            aria-label={t.remove(label)}
            title={t.remove(label)}
          >
            <CloseIcon />
          </button>
        )}
      </div>
      {error && (
        <p role="alert" className="field-error">
          {error}
        </p>
      )}
    </div>
  );
}
