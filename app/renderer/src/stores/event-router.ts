// Feeds the domain stores: at start-up it subscribes to `window.phantommesh.onEvent` and asks for
// app.state; after that every change arrives as an event, which routeEvent hands to the domain that
// owns it, or as the result of a domain's action. Components read the stores and call those actions;
// they never call the API themselves.

import type { HelperEvent } from '../../../../shared/src/control/protocol.ts';
import type { AppEvent } from '../../../../shared/src/ipc/schema.ts';
import type { HostProblemEvent } from '../../../web/wire.ts';
import { invoke, onEvent } from '../api.ts';
import { appStateFailed, appStateLoaded, setConnection, setHostProblem } from './helper.ts';
import { appendLog, loadLogs } from './logs.ts';
import { appSettingsLoaded, receiveAppSettings, receiveBlocking, receiveHelperSettings } from './settings.ts';
import { applyStatuses, loadTunnels, select } from './tunnels.ts';
import { navigate, notify } from './ui.ts';
import { strings } from '../strings.ts';

let started = false;

/** Subscribes to the app's events and asks for the first state. Called once, before React renders. */
export function startEventRouter(): void {
  if (started) return;
  started = true;
  onEvent(routeEvent);
  invoke('app.state', {}).then((state) => {
    appSettingsLoaded(state.settings);
    if (appStateLoaded(state.version, state.helper)) helperConnected();
  }, appStateFailed);
}

export function routeEvent(event: AppEvent | HostProblemEvent): void {
  switch (event.type) {
    case 'host-problem':
      setHostProblem(event.problem);
      break;
    case 'helper-connection':
      if (setConnection(event.connection)) helperConnected();
      break;
    case 'helper':
      routeHelperEvent(event.event);
      break;
    case 'app-settings':
      receiveAppSettings(event.settings);
      break;
    case 'select-tunnel':
      navigate('tunnels');
      select(event.name);
      break;
  }
}

function routeHelperEvent(event: HelperEvent): void {
  switch (event.type) {
    case 'tunnel-state':
      applyStatuses([event.status], false);
      break;
    case 'stats':
      applyStatuses(event.tunnels, true);
      break;
    case 'log':
      appendLog([event.line]);
      break;
    case 'settings':
      receiveHelperSettings(event.settings);
      break;
    case 'tunnels-changed':
      void loadTunnels();
      break;
    case 'blocking':
      receiveBlocking(event.blocking);
      break;
    case 'firewall-restored':
      notify(strings.blocking.restored, 'error');
      break;
  }
}

/** The link has just connected: what we held may be stale, so load the tunnels and the log afresh. */
function helperConnected(): void {
  void loadTunnels(true);
  void loadLogs();
}
