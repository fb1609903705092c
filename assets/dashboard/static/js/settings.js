// The Settings panel (the gear in the header): the display name, checked by the hub's own
// name rules (GET /api/names/check/{name}) before it is kept; notifications on or off for
// this browser; which token is in use, to change it or sign out; which hub the page observes
// (its own or the dev upstream) and that hub's version (GET /api/stats), with links to the
// skills and docs browsers.

import { $, h, fill, duration } from './dom.js';
import { api, config, displayName, setDisplayName, token, clearToken } from './api.js';
import { toggle as togglePush, refresh as refreshPush } from './push.js';
import { emit } from './events.js';
import * as connection from './connection.js';

let dialog;

const row = (label, ...content) => h('div', { class: 'set-row' }, h('span', { class: 'set-label' }, label), h('div', { class: 'set-value' }, ...content));

/** Asks the hub whether the token may send as `name`; resolves to its refusal or ''. */
export async function checkName(name, tokenOverride) {
  if (!name) return 'A name is needed.';
  try {
    await api(`/api/names/check/${encodeURIComponent(name)}`, { tokenOverride });
    return '';
  } catch (e) {
    return e.message;
  }
}

async function saveName(ev) {
  ev.preventDefault();
  const input = $('#settings-name');
  const msg = $('#settings-name-msg');
  const name = input.value.trim();
  msg.className = 'set-msg';
  msg.textContent = 'Checking…';
  const error = await checkName(name);
  if (error) {
    msg.className = 'set-msg error';
    msg.textContent = error;
    return;
  }
  setDisplayName(name);
  $('#whoami').textContent = name;
  emit('identity', name);
  msg.textContent = `Saved: messages are sent as ${name}.`;
}

/** What the token is: the admin's (live view and writes) or a workspace's (read-only). */
async function tokenKind() {
  try {
    await api('/metrics');
    return 'admin token: live view and writes';
  } catch (e) {
    return e.status === 401 ? 'workspace token: read-only view' : `unknown (${e.message})`;
  }
}

async function hubFacts() {
  const box = $('#settings-hub');
  const observed = config.apiBase || location.origin;
  fill(box,
    row('Observes', h('code', { id: 'settings-observed' }, observed), config.wsUpstream ? h('span', { class: 'badge dev' }, 'dev upstream') : null),
    row('Socket', h('code', {}, `${config.wsBase}/ws`)),
    row('Hub version', h('span', { id: 'settings-version' }, '…')),
    row('Page version', h('span', {}, config.version || '—')));
  try {
    const s = await api('/api/stats');
    $('#settings-version').textContent = `v${s.version} · up ${duration((s.uptime_secs || 0) * 1000)} · ${s.agents_online} agents · ${s.push_subscriptions} push subscriptions`;
    $('#settings-version').dataset.version = s.version;
  } catch (e) {
    $('#settings-version').textContent = `unreachable: ${e.message}`;
  }
}

async function pushState() {
  await refreshPush();
  const st = $('#push-state');
  $('#settings-push-state').textContent = st.textContent.replace(/^push: /, '') + (st.title ? ` — ${st.title}` : '');
  $('#settings-push').textContent = st.dataset.state === 'on' ? 'Turn off' : 'Turn on';
  $('#settings-push').disabled = $('#push-toggle').disabled;
}

export async function open() {
  $('#settings-name').value = displayName();
  $('#settings-name-msg').textContent = '';
  $('#settings-token').textContent = `${'•'.repeat(8)} (${token().length} characters) · checking…`;
  if (!dialog.open) dialog.showModal();
  tokenKind().then((k) => { $('#settings-token').textContent = `${'•'.repeat(8)} (${token().length} characters) · ${k}`; });
  await Promise.all([hubFacts(), pushState()]);
}

function build() {
  dialog = h('dialog', { id: 'settings-dialog', class: 'settings', 'aria-label': 'Settings' },
    h('header', {}, h('h2', {}, 'Settings'), h('button', { type: 'button', class: 'ghost small', id: 'settings-close', onclick: () => dialog.close() }, 'Close')),
    h('section', {}, h('h3', {}, 'Display name'),
      h('form', { id: 'settings-name-form', class: 'inline-form' },
        h('input', { id: 'settings-name', maxlength: '128', spellcheck: 'false', 'aria-label': 'display name' }),
        h('button', { type: 'submit', id: 'settings-name-save' }, 'Save')),
      h('p', { id: 'settings-name-msg', class: 'set-msg', role: 'status' }),
      h('p', { class: 'sub' }, 'Checked by the hub: letters, digits, _ and -, not reserved, not held by another workspace.')),
    h('section', {}, h('h3', {}, 'Notifications'),
      row('This browser', h('span', { id: 'settings-push-state' }, '…'),
        h('button', { type: 'button', class: 'ghost small', id: 'settings-push', onclick: async () => { await togglePush(); await pushState(); } }, 'Turn on'))),
    h('section', {}, h('h3', {}, 'Token'),
      row('In use', h('span', { id: 'settings-token' }, '')),
      h('div', { class: 'inline-form' },
        h('button', { type: 'button', class: 'ghost small', id: 'settings-change-token', onclick: () => { connection.stop(); clearToken(); location.reload(); } }, 'Change token'),
        h('button', { type: 'button', class: 'danger small', id: 'settings-signout', onclick: () => $('#logout').click() }, 'Sign out'))),
    h('section', {}, h('h3', {}, 'Hub'), h('div', { id: 'settings-hub' })),
    h('section', {}, h('h3', {}, 'Help'),
      h('p', {}, h('a', { href: '/skills', target: '_blank', rel: 'noopener' }, 'Skills'), ' · ',
        h('a', { href: '/docs', target: '_blank', rel: 'noopener' }, 'Docs'), ' · ', h('span', { class: 'sub' }, 'Alt+I: element inspector'))));
  document.body.append(dialog);
  $('#settings-name-form').addEventListener('submit', saveName);
}

export function init() {
  build();
  $('#settings-btn').addEventListener('click', () => open());
}
