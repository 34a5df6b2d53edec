// Inline SVG icons (no icon font: the CSP allows only our own files). Decorative: aria-hidden.

import type { ReactNode } from 'react';

function Icon({ children, size = 18 }: { children: ReactNode; size?: number }) {
  return (
    <svg
      className="icon"
      width={size}
      height={size}
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      strokeWidth="2"
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden="true"
      focusable="false"
    >
      {children}
    </svg>
  );
}

type Props = { size?: number };

export const LogoIcon = ({ size = 24 }: Props) => (
  <svg className="logo" width={size} height={size} viewBox="0 0 32 32" aria-hidden="true" focusable="false">
    <path className="logo-shield" d="M16 2 4 7v8c0 7.4 5.1 13.3 12 15 6.9-1.7 12-7.6 12-15V7L16 2Z" />
    <path
      className="logo-mesh"
      d="M10.5 12.5 16 9.5l5.5 3v6L16 21.5l-5.5-3v-6Zm0 0L16 15.5m0 0 5.5-3M16 15.5v6"
      fill="none"
      strokeWidth="1.7"
      strokeLinejoin="round"
    />
  </svg>
);

export const ShieldIcon = ({ size }: Props) => (
  <Icon size={size}>
    <path d="M12 2 4 5.5v6c0 5 3.4 9.4 8 10.5 4.6-1.1 8-5.5 8-10.5v-6L12 2Z" />
  </Icon>
);

export const ShieldCheckIcon = ({ size }: Props) => (
  <Icon size={size}>
    <path d="M12 2 4 5.5v6c0 5 3.4 9.4 8 10.5 4.6-1.1 8-5.5 8-10.5v-6L12 2Z" />
    <path d="m8.5 12 2.5 2.5 4.5-5" />
  </Icon>
);

export const ShieldOffIcon = ({ size }: Props) => (
  <Icon size={size}>
    <path d="M19.7 14.6c.2-1 .3-2 .3-3.1v-6L12 2 7.8 3.8M4.3 4.3 4 5.5v6c0 5 3.4 9.4 8 10.5 2.3-.6 4.3-1.9 5.8-3.7" />
    <path d="m2 2 20 20" />
  </Icon>
);

export const ShieldAlertIcon = ({ size }: Props) => (
  <Icon size={size}>
    <path d="M12 2 4 5.5v6c0 5 3.4 9.4 8 10.5 4.6-1.1 8-5.5 8-10.5v-6L12 2Z" />
    <path d="M12 8v4.5M12 16h.01" />
  </Icon>
);

export const PlusIcon = ({ size }: Props) => (
  <Icon size={size}>
    <path d="M12 5v14M5 12h14" />
  </Icon>
);

export const ImportIcon = ({ size }: Props) => (
  <Icon size={size}>
    <path d="M12 3v12m0 0-4.5-4.5M12 15l4.5-4.5" />
    <path d="M4 15v3a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-3" />
  </Icon>
);

export const ExportIcon = ({ size }: Props) => (
  <Icon size={size}>
    <path d="M12 15V3m0 0L7.5 7.5M12 3l4.5 4.5" />
    <path d="M4 15v3a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-3" />
  </Icon>
);

export const EditIcon = ({ size }: Props) => (
  <Icon size={size}>
    <path d="M4 20h4L19 9a2.8 2.8 0 0 0-4-4L4 16v4Z" />
    <path d="m13.5 6.5 4 4" />
  </Icon>
);

export const TrashIcon = ({ size }: Props) => (
  <Icon size={size}>
    <path d="M4 7h16M10 11v6M14 11v6M6 7l1 12a2 2 0 0 0 2 2h6a2 2 0 0 0 2-2l1-12M9 7V4h6v3" />
  </Icon>
);

export const CopyIcon = ({ size }: Props) => (
  <Icon size={size}>
    <rect x="8" y="8" width="12" height="12" rx="2" />
    <path d="M16 8V6a2 2 0 0 0-2-2H6a2 2 0 0 0-2 2v8a2 2 0 0 0 2 2h2" />
  </Icon>
);

export const CheckIcon = ({ size }: Props) => (
  <Icon size={size}>
    <path d="m5 12.5 4.5 4.5L19 7.5" />
  </Icon>
);

export const FileIcon = ({ size }: Props) => (
  <Icon size={size}>
    <path d="M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8l-5-5Z" />
    <path d="M14 3v5h5" />
  </Icon>
);

export const CloseIcon = ({ size }: Props) => (
  <Icon size={size}>
    <path d="M6 6l12 12M18 6 6 18" />
  </Icon>
);

export const PowerIcon = ({ size }: Props) => (
  <Icon size={size}>
    <path d="M12 3v8" />
    <path d="M6.3 7.2a8 8 0 1 0 11.4 0" />
  </Icon>
);

export const AlertIcon = ({ size }: Props) => (
  <Icon size={size}>
    <path d="M10.3 4 2.7 17.5A2 2 0 0 0 4.4 20.5h15.2a2 2 0 0 0 1.7-3L13.7 4a2 2 0 0 0-3.4 0Z" />
    <path d="M12 9v4.5M12 17h.01" />
  </Icon>
);

export const LockIcon = ({ size }: Props) => (
  <Icon size={size}>
    <rect x="5" y="11" width="14" height="10" rx="2" />
    <path d="M8 11V8a4 4 0 0 1 8 0v3" />
  </Icon>
);

export const RefreshIcon = ({ size }: Props) => (
  <Icon size={size}>
    <path d="M20 12a8 8 0 1 1-2.3-5.7L20 8.5" />
    <path d="M20 4v4.5h-4.5" />
  </Icon>
);

export const SaveIcon = ({ size }: Props) => (
  <Icon size={size}>
    <path d="M12 4v10m0 0-4-4m4 4 4-4" />
    <path d="M5 19h14" />
  </Icon>
);

export const Spinner = () => <span className="spinner" aria-hidden="true" />;
