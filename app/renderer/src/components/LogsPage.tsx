// Logs: the helper's log, the tail first and then live lines, and "Save diagnostics…".

import { useEffect, useId, useLayoutEffect, useRef, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { failure, sentence } from '../api.ts';
import { formatClock } from '../lib/format.ts';
import { saveDiagnostics, useLogs } from '../stores/logs.ts';
import { strings } from '../strings.ts';
import { SaveIcon, Spinner } from './icons.tsx';

const t = strings.logs;

export function LogsPage() {
  const { lines, load, error } = useLogs(
    useShallow((state) => ({ lines: state.lines, load: state.load, error: state.error })),
  );
  const [follow, setFollow] = useState(true);
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState<{ ok: boolean; text: string } | null>(null);
  const view = useRef<HTMLDivElement>(null);
  const followId = useId();

  // Stay at the bottom while following; scrolling up stops following.
  useLayoutEffect(() => {
    if (follow && view.current) view.current.scrollTop = view.current.scrollHeight;
  }, [lines, follow]);

  useEffect(() => {
    const element = view.current;
    if (!element) return;
    const onScroll = () => {
      const atBottom = element.scrollHeight - element.scrollTop - element.clientHeight < 8;
      setFollow(atBottom);
    };
    element.addEventListener('scroll', onScroll, { passive: true });
    return () => element.removeEventListener('scroll', onScroll);
  }, []);

  const save = async () => {
    setSaving(true);
    setSaved(null);
    try {
      const result = await saveDiagnostics();
      if (result) setSaved({ ok: true, text: t.saved(result.path) });
    } catch (caught) {
      setSaved({ ok: false, text: t.saveFailed(sentence(failure(caught).message)) });
    } finally {
      setSaving(false);
    }
  };

  return (
    <div className="page logs-page">
      <div className="page-header">
        <div>
          <h2 className="page-title">{t.title}</h2>
          <p className="muted small">{t.intro}</p>
        </div>
        <div className="page-actions">
          <label className="inline-check" htmlFor={followId}>
            <input
              id={followId}
              type="checkbox"
              checked={follow}
              onChange={(event) => setFollow(event.target.checked)}
            />
            {t.follow}
          </label>
          <button
            type="button"
            className="button button-secondary"
            onClick={() => void save()}
            disabled={saving}
            aria-busy={saving}
          >
            <SaveIcon size={16} />
            {t.saveDiagnostics}
          </button>
        </div>
      </div>
      <p className={saved && !saved.ok ? 'save-note save-note-error' : 'save-note'} aria-live="polite">
        {saving ? t.saving : (saved?.text ?? '')}
      </p>
      {error && (
        <p role="alert" className="field-error">
          {error}
        </p>
      )}
      <div ref={view} className="log-view" role="log" aria-label={t.label} tabIndex={0}>
        {load === 'loading' && lines.length === 0 ? (
          <p className="log-empty">
            <Spinner />
            {t.loading}
          </p>
        ) : lines.length === 0 ? (
          <p className="log-empty">{t.empty}</p>
        ) : (
          lines.map((line, index) => (
            <div key={index} className={`log-line log-${line.level}`}>
              <time className="log-time" dateTime={new Date(line.time).toISOString()}>
                {formatClock(line.time)}
              </time>
              <span className="log-level">{t.levels[line.level]}</span>
              <span className="log-source">{line.source}</span>
              <span className="log-message">{line.message}</span>
            </div>
          ))
        )}
      </div>
    </div>
  );
}
