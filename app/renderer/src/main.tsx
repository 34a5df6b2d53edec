// Entry point: wait for `window.phantommesh`, start feeding the stores, render.

import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { waitForApi } from './api.ts';
import { App } from './components/App.tsx';
import { startEventRouter } from './stores/event-router.ts';
import { bridgeMissing } from './stores/helper.ts';
import './styles.css';

const container = document.getElementById('root');
if (!container) throw new Error('index.html has no #root');
const root = createRoot(container);
root.render(
  <StrictMode>
    <App />
  </StrictMode>,
);

waitForApi().then(
  () => startEventRouter(),
  (error: Error) => bridgeMissing(error.message),
);
