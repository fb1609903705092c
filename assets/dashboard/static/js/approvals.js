// Approvals: agents' tool-permission requests (relayed from Claude Code by the MCP bridge)
// with Allow and Deny. Shown only to the admin token and approver tokens: the first
// GET /api/permissions answers 403 to any other token, and then nothing is added to the page.
// A badge in the top bar counts pending requests and opens the panel; the panel lists each
// request with its tool, description and input preview (as text: it is the agent's input,
// never markup), its expiry, and the recent answers with who gave them, when and from where.
// Live: the /ws/permissions socket sends `permission_update` frames; each one reloads the list.

import { $, h, fill, ago, clock, toast } from './dom.js';
import { api, ApiError, config, token } from './api.js';

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 15000;
/// Answered and expired requests shown under the pending ones.
const RECENT = 20;

let pending = [];
let recent = [];
/** The agent whose answered requests are shown (its approvals history), or '' for all. */
let agentFilter = '';
let retryMs = RETRY_MIN_MS;

function badge() {
  const b = $('#approvals-badge');
  b.hidden = false;
  const n = pending.length;
  fill(b, 'Approvals ', h('span', { class: `count${n ? ' alert' : ''}` }, String(n)));
  b.title = n ? `${n} permission request${n > 1 ? 's' : ''} waiting` : 'No permission requests waiting';
  b.classList.toggle('waiting', n > 0);
}

async function decide(id, behavior, row) {
  for (const btn of row.querySelectorAll('button')) btn.disabled = true;
  try {
    await api(`/api/permissions/${encodeURIComponent(id)}`, { method: 'POST', body: { behavior } });
    toast(`${id}: ${behavior === 'allow' ? 'allowed' : 'denied'}`);
  } catch (e) {
    toast(`Cannot answer ${id}: ${e.message}`, 'error');
  }
  await load();
}

function requestRow(r) {
  const row = h('li', { class: 'approval', dataset: { id: r.id } });
  row.append(
    h('div', { class: 'approval-head' },
      h('strong', {}, r.agent), ' asks to use ', h('code', { class: 'tool' }, r.tool_name),
      h('span', { class: 'sub' }, ` · ${r.id} · asked ${ago(r.created_at)} · expires ${clock(r.expires_at)}`)),
    r.description ? h('div', { class: 'description' }, r.description) : null,
    // textContent only: the preview is the tool's input as the agent wrote it.
    r.input_preview ? h('pre', { class: 'preview' }, r.input_preview) : null,
    h('div', { class: 'approval-actions' },
      h('button', { type: 'button', class: 'allow', onclick: () => decide(r.id, 'allow', row) }, 'Allow'),
      h('button', { type: 'button', class: 'ghost deny', onclick: () => decide(r.id, 'deny', row) }, 'Deny')));
  return row;
}

function showAgent(name) {
  agentFilter = name;
  load().catch((e) => toast(`Cannot read permission requests: ${e.message}`, 'error'));
}

function answeredRow(r) {
  const what = r.status === 'expired' ? 'expired' : `${r.behavior === 'allow' ? 'allowed' : 'denied'} by ${r.answered_by}`;
  const where = r.answered_from ? ` from ${r.answered_from}` : '';
  const via = r.answered_via ? ` (${r.answered_via})` : '';
  return h('li', { class: `approval done ${r.status}`, dataset: { id: r.id } },
    h('button', { type: 'button', class: 'link agent', title: `Only ${r.agent}'s requests`, onclick: () => showAgent(r.agent) }, r.agent),
    ' · ', h('code', {}, r.tool_name), ` · ${r.id} · `,
    h('span', { class: 'verdict' }, what), h('span', { class: 'sub' }, `${where}${via} ${r.answered_at ? clock(r.answered_at) : ''}`));
}

function render() {
  badge();
  fill($('#approvals-pending'), pending.length ? pending.map(requestRow) : h('li', { class: 'empty' }, 'Nothing waiting.'));
  fill($('#approvals-recent-head'), agentFilter ? `Recent answers for ${agentFilter} ` : 'Recent answers',
    agentFilter ? h('button', { type: 'button', class: 'ghost small', onclick: () => showAgent('') }, 'all agents') : null);
  fill($('#approvals-recent'), recent.length ? recent.map(answeredRow) : h('li', { class: 'empty' }, 'No answers yet.'));
}

async function load() {
  const agent = agentFilter ? `&agent=${encodeURIComponent(agentFilter)}` : '';
  const [open, all] = await Promise.all([api('/api/permissions'), api(`/api/permissions?all&limit=${RECENT + 100}${agent}`)]);
  pending = open;
  recent = all.filter((r) => r.status !== 'pending').slice(0, RECENT);
  render();
}

function listen() {
  const ws = new WebSocket(`${config.wsBase}/ws/permissions?token=${encodeURIComponent(token())}`);
  ws.onopen = () => { retryMs = RETRY_MIN_MS; load().catch(() => {}); };
  ws.onmessage = (ev) => {
    let frame;
    try { frame = JSON.parse(ev.data); } catch { return; }
    if (frame && frame.type === 'permission_update') load().catch(() => {});
  };
  ws.onclose = (ev) => {
    if (ev.code === 4001) return;
    setTimeout(listen, retryMs);
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
  };
}

function build() {
  const button = h('button', { type: 'button', id: 'approvals-badge', class: 'ghost small approvals-badge', hidden: true });
  const panel = h('section', { id: 'approvals-panel', class: 'approvals-panel', hidden: true, 'aria-label': 'Permission requests' },
    h('div', { class: 'panel-head' }, h('h2', {}, 'Permission requests'),
      h('span', { class: 'sub' }, 'Allowing lets the agent run the tool on its machine.'),
      h('button', { type: 'button', class: 'ghost small', onclick: () => { panel.hidden = true; } }, 'Close')),
    h('ul', { id: 'approvals-pending', class: 'approvals' }),
    h('h3', { id: 'approvals-recent-head' }, 'Recent answers'),
    h('ul', { id: 'approvals-recent', class: 'approvals recent' }));
  button.addEventListener('click', () => { panel.hidden = !panel.hidden; });
  $('.status-area').prepend(button);
  document.body.append(panel);
}

/** Adds the badge and panel when this token may answer; otherwise leaves the page alone. */
export async function init() {
  try {
    await api('/api/permissions?limit=1');
  } catch (e) {
    if (!(e instanceof ApiError) || (e.status !== 403 && e.status !== 401)) toast(`Approvals unavailable: ${e.message}`, 'error');
    return;
  }
  build();
  await load().catch((e) => toast(`Cannot read permission requests: ${e.message}`, 'error'));
  listen();
}
