// Settings: the helper's (system-wide: kill switch, local network) and the app's own (per user).

import { useId, type ReactNode } from 'react';
import { useShallow } from 'zustand/react/shallow';
import type { Theme } from '../../../../shared/src/ipc/schema.ts';
import { useHelper } from '../stores/helper.ts';
import { setAppSetting, setHelperSetting, useAppSettings, useHelperSettings } from '../stores/settings.ts';
import { useTunnels } from '../stores/tunnels.ts';
import { openLink } from '../stores/ui.ts';
import { strings } from '../strings.ts';
import { HelperGate } from './HelperGate.tsx';

const t = strings.settings;

function Row({
  id,
  label,
  help,
  children,
}: {
  id: string;
  label: string;
  help: string;
  children: ReactNode;
}) {
  return (
    <div className="setting">
      <div className="setting-text">
        <label htmlFor={id} className="setting-label">
          {label}
        </label>
        <p id={`${id}-help`} className="setting-help">
          {help}
        </p>
      </div>
      <div className="setting-control">{children}</div>
    </div>
  );
}

function Switch({
  id,
  checked,
  disabled,
  onChange,
}: {
  id: string;
  checked: boolean;
  disabled?: boolean;
  onChange: (checked: boolean) => void;
}) {
  return (
    <input
      id={id}
      type="checkbox"
      className="switch"
      checked={checked}
      disabled={disabled}
      aria-describedby={`${id}-help`}
      onChange={(event) => onChange(event.target.checked)}
    />
  );
}

export function SettingsPage() {
  const helperConnected = useHelper((state) => state.connection.state === 'connected');
  const version = useHelper((state) => state.version);
  const helper = useHelperSettings(useShallow((state) => ({ settings: state.settings, error: state.error })));
  const app = useAppSettings(useShallow((state) => ({ settings: state.settings, error: state.error })));
  const tunnelNames = useTunnels(useShallow((state) => state.summaries.map((summary) => summary.name)));
  const ids = {
    killSwitch: useId(),
    allowLan: useId(),
    lockdown: useId(),
    startAtLogin: useId(),
    connectOnLaunch: useId(),
    closeToTray: useId(),
    theme: useId(),
  };
  const helperDisabled = !helperConnected || !helper.settings;
  const appDisabled = !app.settings;
  const launchTunnel = app.settings?.connectOnLaunch ?? null;
  // A saved choice whose tunnel is gone still shows, so the select never lies.
  const launchOptions =
    launchTunnel && !tunnelNames.includes(launchTunnel) ? [...tunnelNames, launchTunnel] : tunnelNames;

  return (
    <div className="page settings-page">
      <h2 className="page-title">{t.title}</h2>

      <section className="card settings-card" aria-labelledby="settings-connection">
        <h3 id="settings-connection" className="card-title">
          {t.connection}
        </h3>
        <p className="muted small">{t.connectionHelp}</p>
        {!helperConnected && <HelperGate compact />}
        <Row id={ids.killSwitch} label={t.killSwitch} help={t.killSwitchHelp}>
          <Switch
            id={ids.killSwitch}
            checked={helper.settings?.killSwitch ?? false}
            disabled={helperDisabled}
            onChange={(killSwitch) => void setHelperSetting({ killSwitch })}
          />
        </Row>
        <Row id={ids.lockdown} label={t.lockdown} help={t.lockdownHelp}>
          <Switch
            id={ids.lockdown}
            checked={helper.settings?.lockdown ?? false}
            disabled={helperDisabled}
            onChange={(lockdown) => void setHelperSetting({ lockdown })}
          />
        </Row>
        <Row id={ids.allowLan} label={t.allowLan} help={t.allowLanHelp}>
          <Switch
            id={ids.allowLan}
            checked={helper.settings?.allowLan ?? false}
            disabled={helperDisabled}
            onChange={(allowLan) => void setHelperSetting({ allowLan })}
          />
        </Row>
        {helper.error && (
          <p role="alert" className="field-error">
            {helper.error}
          </p>
        )}
      </section>

      <section className="card settings-card" aria-labelledby="settings-app">
        <h3 id="settings-app" className="card-title">
          {t.app}
        </h3>
        <p className="muted small">{t.appHelp}</p>
        <Row id={ids.startAtLogin} label={t.startAtLogin} help={t.startAtLoginHelp}>
          <Switch
            id={ids.startAtLogin}
            checked={app.settings?.startAtLogin ?? false}
            disabled={appDisabled}
            onChange={(startAtLogin) => void setAppSetting({ startAtLogin })}
          />
        </Row>
        <Row id={ids.connectOnLaunch} label={t.connectOnLaunch} help={t.connectOnLaunchHelp}>
          <select
            id={ids.connectOnLaunch}
            className="select"
            value={launchTunnel ?? ''}
            disabled={appDisabled}
            aria-describedby={`${ids.connectOnLaunch}-help`}
            onChange={(event) => void setAppSetting({ connectOnLaunch: event.target.value || null })}
          >
            <option value="">{t.connectOnLaunchNone}</option>
            {launchOptions.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </Row>
        <Row id={ids.closeToTray} label={t.closeToTray} help={t.closeToTrayHelp}>
          <Switch
            id={ids.closeToTray}
            checked={app.settings?.closeToTray ?? false}
            disabled={appDisabled}
            onChange={(closeToTray) => void setAppSetting({ closeToTray })}
          />
        </Row>
        <Row id={ids.theme} label={t.theme} help={t.themeHelp}>
          <select
            id={ids.theme}
            className="select"
            value={app.settings?.theme ?? 'system'}
            disabled={appDisabled}
            aria-describedby={`${ids.theme}-help`}
            onChange={(event) => void setAppSetting({ theme: event.target.value as Theme })}
          >
            <option value="system">{t.themeSystem}</option>
            <option value="light">{t.themeLight}</option>
            <option value="dark">{t.themeDark}</option>
          </select>
        </Row>
        {app.error && (
          <p role="alert" className="field-error">
            {app.error}
          </p>
        )}
      </section>

      <footer className="settings-footer">
        {version && <span className="muted">{t.version(version)}</span>}
        <button type="button" className="link-button" onClick={() => void openLink('help')}>
          {t.help}
        </button>
        <button type="button" className="link-button" onClick={() => void openLink('issues')}>
          {t.reportIssue}
        </button>
      </footer>
    </div>
  );
}
