// The Workspaces tab: each workspace with its channels, members, tokens and invites.
// Creating a workspace or a token shows the token once (the hub keeps only its hash);
// tokens can be revoked; invites created and revoked. Token and invite lists need the
// admin token; with a workspace token they are simply not shown.

import { $, h, fill, ago, toast } from './dom.js';
import { api, displayName } from './api.js';
import { on } from './events.js';

const enc = encodeURIComponent;

/** Shows a secret once, with a copy button. */
function reveal(title, secret, note) {
  const value = h('code', { class: 'secret-value' }, secret);
  const copy = h('button', { type: 'button', onclick: async () => {
    try { await navigator.clipboard.writeText(secret); copy.textContent = 'Copied'; } catch { toast('Copy failed: select the text instead', 'error'); }
  } }, 'Copy');
  fill($('#ws-secret'),
    h('div', { class: 'secret' },
      h('strong', {}, title),
      h('div', { class: 'secret-row' }, value, copy),
      h('p', { class: 'sub' }, note),
      h('button', { type: 'button', class: 'ghost', onclick: () => fill($('#ws-secret')) }, 'Dismiss')));
}

async function run(label, fn) {
  try { await fn(); } catch (e) { toast(`${label} failed: ${e.message}`, 'error'); }
  await refresh().catch(() => {});
}

function inlineForm(cls, fields, submitLabel, onSubmit) {
  const form = h('form', { class: `inline-form ${cls}` }, fields, h('button', { type: 'submit' }, submitLabel));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); onSubmit(form); });
  return form;
}

function tokenList(ws, tokens) {
  if (!tokens) return h('p', { class: 'sub' }, 'Tokens are listed for the admin token only.');
  return h('ul', { class: 'token-list' }, tokens.map((t) => h('li', { dataset: { tokenId: t.id } },
    h('code', {}, t.hint), h('span', {}, t.label || '(no label)'), h('span', { class: 'sub' }, ago(t.created_at)),
    h('button', { type: 'button', class: 'danger small', onclick: () => {
      if (confirm(`Revoke token ${t.hint} (${t.label || 'no label'})? Agents using it are refused from now on.`)) {
        run('Revoke', () => api(`/api/workspaces/${enc(ws.id)}/tokens/${enc(t.id)}`, { method: 'DELETE' }));
      }
    } }, 'Revoke'))));
}

function inviteList(ws, invites) {
  if (!invites) return null;
  return h('ul', { class: 'token-list' }, invites.map((i) => h('li', {},
    h('code', {}, i.token), h('span', {}, i.role || 'member'),
    h('span', { class: 'sub' }, `${i.use_count}/${i.max_uses || '∞'} used${i.expires_at ? ` · expires ${new Date(i.expires_at).toLocaleString()}` : ''}`),
    h('button', { type: 'button', class: 'danger small', onclick: () => run('Revoke invite', () => api(`/api/workspaces/${enc(ws.id)}/invites/${enc(i.token)}`, { method: 'DELETE' })) }, 'Revoke'))));
}

function card(ws, tokens, invites) {
  const members = Object.entries(ws.members || {});
  return h('article', { class: 'ws-card', dataset: { workspace: ws.name, id: ws.id } },
    h('header', {}, h('h3', {}, ws.name), h('span', { class: 'sub' }, ws.description || '')),
    h('div', { class: 'row' }, h('span', { class: 'label' }, 'Channels'),
      ws.channels.length ? ws.channels.map((c) => h('span', { class: 'chip' }, c)) : h('span', { class: 'sub' }, 'none'),
      inlineForm('add-channel', h('input', { name: 'channel', placeholder: '#channel', required: true, 'aria-label': 'channel' }), 'Add',
        (f) => run('Add channel', () => api(`/api/workspaces/${enc(ws.id)}/channels`, { method: 'POST', body: { channel: f.elements.namedItem('channel').value.trim() } })))),
    h('div', { class: 'row' }, h('span', { class: 'label' }, 'Members'),
      members.length ? members.map(([n, role]) => h('span', { class: 'chip' }, n, h('span', { class: `role ${role}` }, role))) : h('span', { class: 'sub' }, 'none')),
    h('div', { class: 'row column' }, h('span', { class: 'label' }, 'Tokens'), tokenList(ws, tokens),
      inlineForm('new-token', h('input', { name: 'label', placeholder: 'label (e.g. laptop agents)', 'aria-label': 'token label' }), 'Create token',
        (f) => run('Create token', async () => {
          const t = await api(`/api/workspaces/${enc(ws.id)}/tokens`, { method: 'POST', body: { label: f.elements.namedItem('label').value.trim() } });
          reveal(`New token for ${ws.name}`, t.token, 'Shown once: the hub keeps only a hash. Give it to agents as SCITEX_OROCHI_TOKEN.');
        }))),
    h('div', { class: 'row column' }, h('span', { class: 'label' }, 'Invites'), inviteList(ws, invites),
      inlineForm('new-invite', [
        h('input', { name: 'max_uses', type: 'number', min: '0', placeholder: 'max uses (0 = ∞)', 'aria-label': 'max uses' }),
        h('input', { name: 'expires_hours', type: 'number', min: '0', step: 'any', placeholder: 'expires in hours', 'aria-label': 'expires in hours' }),
      ], 'Create invite', (f) => run('Create invite', async () => {
        const body = { created_by: displayName(), max_uses: Number(f.elements.namedItem('max_uses').value || 0), expires_hours: Number(f.elements.namedItem('expires_hours').value || 0) };
        const inv = await api(`/api/workspaces/${enc(ws.id)}/invites`, { method: 'POST', body });
        reveal(`Invite for ${ws.name}`, inv.token, 'Redeem with POST /api/invites/redeem {token, agent_name}.');
      }))));
}

export async function refresh() {
  const list = await api('/api/workspaces');
  const optional = (p) => api(p).catch(() => null);
  const cards = await Promise.all(list.map(async (ws) => card(ws,
    await optional(`/api/workspaces/${enc(ws.id)}/tokens`),
    await optional(`/api/workspaces/${enc(ws.id)}/invites`))));
  fill($('#ws-list'), cards.length ? cards : h('p', { class: 'empty' }, 'No workspaces.'));
}

export function init() {
  $('#ws-create').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const v = (n) => f.elements.namedItem(n).value.trim();
    const channels = v('channels').split(/[\s,]+/).filter(Boolean).map((c) => (c.startsWith('#') ? c : `#${c}`));
    run('Create workspace', async () => {
      const ws = await api('/api/workspaces', { method: 'POST', body: { name: v('name'), description: v('description'), channels } });
      f.reset();
      reveal(`Workspace ${ws.name} created — its first token`, ws.token, 'Shown once: the hub keeps only a hash.');
    });
  });
  on('tab', (t) => { if (t === 'workspaces') refresh().catch((e) => toast(e.message, 'error')); });
}
