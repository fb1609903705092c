// Starts the dashboard: read /api/config (version, dev upstream), register the service
// worker, get a token, then start the views and the live connection.

import { $, toast } from './dom.js';
import { loadConfig, config, clearToken, displayName } from './api.js';
import * as tabs from './tabs.js';
import * as connection from './connection.js';
import * as roster from './roster.js';
import * as chat from './chat.js';
import * as composer from './composer.js';
import * as sketch from './sketch.js';
import * as todo from './todo-tab.js';
import * as agents from './agents-tab.js';
import * as resources from './resources-tab.js';
import * as workspaces from './workspaces-tab.js';
import * as push from './push.js';
import * as threads from './threads.js';
import * as reactions from './reactions.js';
import * as filters from './filters.js';
import * as inspector from './inspector.js';
import * as settings from './settings.js';
import * as approvals from './approvals.js';
import { ensureToken } from './login.js';

// Uncaught errors are shown and kept in window.orochiErrors for diagnosis (and tests).
window.orochiErrors = [];
window.addEventListener('error', (ev) => {
  window.orochiErrors.push(String(ev.message || ev.error));
  toast(`Dashboard error: ${ev.message}`, 'error');
});
window.addEventListener('unhandledrejection', (ev) => {
  window.orochiErrors.push(`unhandled: ${ev.reason && ev.reason.message ? ev.reason.message : ev.reason}`);
});

/** Registers /sw.js; the promise (null without service workers) is what push waits on. */
function registerServiceWorker() {
  if (!('serviceWorker' in navigator)) return null;
  const registering = navigator.serviceWorker.register('/sw.js', { scope: '/' });
  registering.catch((e) => console.warn('service worker', e));
  return registering;
}

async function boot() {
  tabs.init();
  inspector.init();
  try {
    await loadConfig();
  } catch (e) {
    toast(`Cannot read the hub configuration: ${e.message}`, 'error');
  }
  $('#version').textContent = config.version ? `v${config.version}` : '';
  if (config.wsUpstream) {
    const badge = $('#upstream');
    badge.textContent = `dev → ${config.wsUpstream}`;
    badge.title = `This page observes and posts to ${config.apiBase}`;
    badge.hidden = false;
  }
  const worker = registerServiceWorker();
  $('#logout').addEventListener('click', () => { connection.stop(); clearToken(); location.reload(); });
  await ensureToken();
  $('#whoami').textContent = displayName();
  document.body.classList.add('ready');
  roster.start();
  composer.init();
  sketch.init();
  todo.init();
  agents.init();
  resources.init();
  workspaces.init();
  push.init(worker);
  settings.init();
  threads.init();
  reactions.init();
  approvals.init();
  await chat.init();
  filters.init();
  connection.start(chat.poll);
}

boot();
