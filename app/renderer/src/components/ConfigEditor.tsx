// A line-numbered config editor: a plain <textarea> (so it stays an ordinary labelled text field
// for keyboards, screen readers and tests) with a gutter and a highlight layer behind it, kept in
// step on scroll. Lines do not wrap, so gutter rows and text lines match one to one.

import { forwardRef, useCallback, useImperativeHandle, useMemo, useRef } from 'react';
import type { EditorProblem } from '../lib/config.ts';
import { strings } from '../strings.ts';

export interface ConfigEditorHandle {
  /** Focuses the editor with the caret at the start of a line (1-based). */
  goToLine(line: number): void;
}

interface ConfigEditorProps {
  id: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  problems: readonly EditorProblem[];
  /** The id of the element listing the problems. */
  describedBy?: string;
  placeholder?: string;
  readOnly?: boolean;
  autoFocus?: boolean;
  rows?: number;
}

export const ConfigEditor = forwardRef<ConfigEditorHandle, ConfigEditorProps>(function ConfigEditor(
  { id, label, value, onChange, problems, describedBy, placeholder, readOnly, autoFocus, rows = 14 },
  handle,
) {
  const textarea = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLDivElement>(null);
  const backdrop = useRef<HTMLDivElement>(null);

  const lines = useMemo(() => value.split('\n').length, [value]);
  const bad = useMemo(() => new Set(problems.map((problem) => problem.line)), [problems]);

  // Element.style through CSSOM is allowed by the CSP (only style attributes in markup are not).
  const sync = useCallback(() => {
    const area = textarea.current;
    if (!area) return;
    if (gutter.current) gutter.current.style.transform = `translateY(${-area.scrollTop}px)`;
    if (backdrop.current) backdrop.current.style.transform = `translateY(${-area.scrollTop}px)`;
  }, []);

  useImperativeHandle(
    handle,
    () => ({
      goToLine(line: number) {
        const area = textarea.current;
        if (!area) return;
        const starts = area.value.split('\n');
        let offset = 0;
        for (let i = 0; i < Math.min(line - 1, starts.length); i++) offset += starts[i].length + 1;
        area.focus();
        area.setSelectionRange(offset, offset);
        const lineHeight = parseFloat(getComputedStyle(area).lineHeight) || 20;
        area.scrollTop = Math.max(0, (line - 3) * lineHeight);
        sync();
      },
    }),
    [sync],
  );

  return (
    <div className="editor-field">
      <label htmlFor={id} className="field-label">
        {label}
      </label>
      <div className={`editor${bad.size > 0 ? ' editor-invalid' : ''}`}>
        <div className="editor-gutter" aria-hidden="true" title={strings.editor.gutter}>
          <div ref={gutter} className="editor-gutter-lines">
            {Array.from({ length: lines }, (_, index) => (
              <div key={index} className={bad.has(index + 1) ? 'gutter-line gutter-bad' : 'gutter-line'}>
                {bad.has(index + 1) ? <span className="gutter-mark">!</span> : null}
                {index + 1}
              </div>
            ))}
          </div>
        </div>
        <div className="editor-main">
          <div ref={backdrop} className="editor-backdrop" aria-hidden="true">
            {[...bad].map((line) => (
              // React sets `style` through CSSOM, which the CSP allows.
              <div
                key={line}
                className="editor-highlight"
                style={{ top: `calc(var(--editor-pad-y) + ${line - 1} * var(--editor-line))` }}
              />
            ))}
          </div>
          <textarea
            ref={textarea}
            id={id}
            className="editor-text"
            value={value}
            onChange={(event) => onChange(event.target.value)}
            onScroll={sync}
            wrap="off"
            spellCheck={false}
            autoCapitalize="off"
            autoComplete="off"
            autoCorrect="off"
            placeholder={placeholder}
            readOnly={readOnly}
            data-autofocus={autoFocus ? '' : undefined}
            aria-invalid={bad.size > 0}
            aria-describedby={describedBy}
            rows={rows}
          />
        </div>
      </div>
    </div>
  );
});

/** The list of problems under an editor; each entry jumps to its line. */
export function ProblemList({
  id,
  title,
  problems,
  onGoTo,
}: {
  id: string;
  title: string;
  problems: readonly EditorProblem[];
  onGoTo: (line: number) => void;
}) {
  // Rendered only with problems: an empty alert would still be an alert to tests and some readers.
  if (problems.length === 0) return null;
  return (
    <div id={id} role="alert" className="problems">
      <p className="problems-title">{title}</p>
      <ul className="problems-list">
        {problems.map((problem, index) => (
          <li key={`${problem.line}-${index}`}>
            <button type="button" className="problem-link" onClick={() => onGoTo(problem.line)}>
              {problem.message}
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}
