// The "Tunnel name" field of the import and create dialogs: the name becomes the network interface
// name, so it gets the same hint and the same error display in both.

import { useId, type Ref } from 'react';
import { strings } from '../strings.ts';

interface TunnelNameFieldProps {
  value: string;
  error: string | null;
  onChange: (value: string) => void;
  inputRef: Ref<HTMLInputElement>;
}

export function TunnelNameField({ value, error, onChange, inputRef }: TunnelNameFieldProps) {
  const id = useId();
  const helpId = `${id}-help`;
  const errorId = `${id}-error`;
  return (
    <div className="field">
      <label htmlFor={id} className="field-label">
        {strings.importDialog.name}
      </label>
      <input
        ref={inputRef}
        id={id}
        className="input"
        value={value}
        onChange={(event) => onChange(event.target.value)}
        maxLength={15}
        autoComplete="off"
        spellCheck={false}
        data-autofocus=""
        aria-invalid={error !== null}
        aria-describedby={error ? `${errorId} ${helpId}` : helpId}
      />
      <p id={helpId} className="field-help">
        {strings.importDialog.nameHint}
      </p>
      {error && (
        <p id={errorId} role="alert" className="field-error">
          {error}
        </p>
      )}
    </div>
  );
}
