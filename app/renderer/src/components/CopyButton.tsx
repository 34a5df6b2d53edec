// "Copy public key": navigator.clipboard, with a polite confirmation that does not change the
// button's name.

import { useEffect, useState } from 'react';
import { strings } from '../strings.ts';
import { CheckIcon, CopyIcon } from './icons.tsx';

export function CopyButton({ text, label = strings.detail.copyPublicKey }: { text: string; label?: string }) {
  const [result, setResult] = useState<{ ok: boolean; message: string } | null>(null);

  useEffect(() => {
    if (!result) return;
    const timer = setTimeout(() => setResult(null), 3000);
    return () => clearTimeout(timer);
  }, [result]);

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setResult({ ok: true, message: strings.detail.copied });
    } catch (error) {
      setResult({ ok: false, message: strings.detail.copyFailed((error as Error).message || String(error)) });
    }
  };

  return (
    <span className="copy">
      <button type="button" className="button button-secondary button-small" onClick={copy}>
        {result?.ok ? <CheckIcon size={16} /> : <CopyIcon size={16} />}
        {label}
      </button>
      <span className={result && !result.ok ? 'copy-note copy-failed' : 'copy-note'} aria-live="polite">
        {result?.message ?? ''}
      </span>
    </span>
  );
}
