// Says when the helper blocks traffic outside the tunnels (kill switch, lockdown) and why.

import { useBlocking } from '../stores/settings.ts';
import { strings } from '../strings.ts';

export function BlockingBanner() {
  const blocking = useBlocking((state) => state.blocking);
  if (!blocking) return null;
  return (
    <p role="status" className="banner banner-warning blocking-banner">
      {strings.blocking.label}: {blocking.reason}
    </p>
  );
}
