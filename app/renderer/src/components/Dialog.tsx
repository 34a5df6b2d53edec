// A modal dialog on the native <dialog> element: showModal() makes the rest of the page inert,
// Escape closes it (the `cancel` event), Tab cycles inside it, and focus returns where it was.

import { useEffect, useId, useRef, type KeyboardEvent, type ReactNode } from 'react';
import { closeDialog } from '../stores/ui.ts';
import { strings } from '../strings.ts';
import { CloseIcon } from './icons.tsx';

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

interface DialogProps {
  title: string;
  onClose: () => void;
  children: ReactNode;
  /** Optional text under the title; it also becomes the dialog's description. */
  description?: ReactNode;
  size?: 'small' | 'medium' | 'large';
  /** While busy, Escape and the close button do nothing (an invoke is under way). */
  busy?: boolean;
}

export function Dialog({
  title,
  onClose,
  children,
  description,
  size = 'medium',
  busy = false,
}: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const descriptionId = useId();
  const closeRef = useRef(onClose);
  const busyRef = useRef(busy);
  /** Set when React takes the dialog down, so its `close` event is not taken for the user's. */
  const unmounting = useRef(false);
  useEffect(() => {
    closeRef.current = onClose;
    busyRef.current = busy;
  });

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    unmounting.current = false;
    if (!dialog.open) dialog.showModal();
    const first = dialog.querySelector<HTMLElement>('[data-autofocus]');
    first?.focus();
    return () => {
      unmounting.current = true;
      if (dialog.open) dialog.close();
      if (opener?.isConnected) opener.focus();
    };
  }, []);

  const onKeyDown = (event: KeyboardEvent<HTMLDialogElement>) => {
    if (event.key !== 'Tab' || !ref.current) return;
    const focusable = [...ref.current.querySelectorAll<HTMLElement>(FOCUSABLE)].filter(
      (element) => element.offsetParent !== null || element === document.activeElement,
    );
    if (focusable.length === 0) return;
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (
      event.shiftKey &&
      (document.activeElement === first || !ref.current.contains(document.activeElement))
    ) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  };

  return (
    <dialog
      ref={ref}
      className={`dialog dialog-${size}`}
      aria-labelledby={titleId}
      aria-describedby={description ? descriptionId : undefined}
      onKeyDown={onKeyDown}
      onCancel={(event) => {
        // Escape: we close through React state so the dialog unmounts cleanly.
        event.preventDefault();
        if (!busyRef.current) closeRef.current();
      }}
      onClose={() => {
        // The browser closed it anyway (a repeated Escape cannot be cancelled): follow, or the page
        // would stay inert behind a dialog that is gone.
        if (!unmounting.current) closeRef.current();
      }}
    >
      <div className="dialog-header">
        <h2 id={titleId} className="dialog-title">
          {title}
        </h2>
        <button
          type="button"
          className="icon-button"
          aria-label={strings.dialog.close}
          title={strings.dialog.close}
          onClick={() => !busy && onClose()}
          disabled={busy}
        >
          <CloseIcon />
        </button>
      </div>
      {description && (
        <p id={descriptionId} className="dialog-description">
          {description}
        </p>
      )}
      <div className="dialog-body">{children}</div>
    </dialog>
  );
}

/** Cancel and submit for a dialog's form; both wait while the helper is working on it. */
export function FormActions({ busy, label, busyLabel }: { busy: boolean; label: string; busyLabel: string }) {
  return (
    <div className="dialog-actions">
      <button type="button" className="button button-secondary" onClick={closeDialog} disabled={busy}>
        {strings.dialog.cancel}
      </button>
      <button type="submit" className="button button-primary" disabled={busy} aria-busy={busy}>
        {busy ? busyLabel : label}
      </button>
    </div>
  );
}
