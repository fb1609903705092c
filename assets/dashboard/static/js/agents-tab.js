// The Agents tab: one row per agent with its machine, model, role, channels, current task,
// liveness from the heartbeat age (online ≤ 60 s, stale ≤ 5 min, offline beyond that or
// disconnected during this visit) and uptime since it registered.

import { $, h, fill, ageMs, duration, ago } from './dom.js';
import * as roster from './roster.js';
import { on } from './events.js';
import { isActive } from './tabs.js';

const ONLINE_MS = 60e3;
const STALE_MS = 300e3;

export function liveness(a) {
  if (a.departed_at) return 'offline';
  const age = ageMs(a.last_heartbeat);
  if (age === null) return 'stale';
  return age <= ONLINE_MS ? 'online' : age <= STALE_MS ? 'stale' : 'offline';
}

const dash = (v) => (v === undefined || v === null || v === '' ? '—' : String(v));
const ORDER = { online: 0, stale: 1, offline: 2 };

function row(a) {
  const live = liveness(a);
  const status = a.status && !['online', 'offline', live].includes(a.status) ? ` · ${a.status}` : '';
  const channels = [...(a.channels || [])];
  return h('tr', { class: `agent ${live}`, dataset: { agent: a.name } },
    h('td', { class: 'status' }, h('span', { class: `dot ${live}` }), `${live}${status}`),
    h('td', { class: 'name' }, h('strong', {}, a.name), a.agent_id && a.agent_id !== a.name ? h('div', { class: 'sub' }, a.agent_id) : null),
    h('td', {}, dash(a.machine)),
    h('td', {}, dash(a.model)),
    h('td', {}, dash(a.role)),
    h('td', { class: 'chan-list' }, channels.length ? channels.map((c) => h('span', { class: 'chip' }, c)) : '—'),
    h('td', { class: 'task', title: a.current_task || '' }, dash(a.current_task), a.subagent_count ? h('span', { class: 'sub' }, ` (+${a.subagent_count} sub)`) : null),
    h('td', { class: 'num' }, a.departed_at ? '—' : duration(ageMs(a.registered_at))),
    h('td', { class: 'num' }, a.departed_at ? `left ${ago(a.departed_at)}` : ago(a.last_heartbeat)));
}

function render() {
  const all = [...roster.current(), ...roster.gone()];
  all.sort((a, b) => ORDER[liveness(a)] - ORDER[liveness(b)] || a.name.localeCompare(b.name));
  const count = (s) => all.filter((a) => liveness(a) === s).length;
  const machines = new Set(all.map((a) => a.machine).filter(Boolean));
  $('#agents-summary').textContent = all.length
    ? `${all.length} agent${all.length > 1 ? 's' : ''} on ${machines.size} machine${machines.size === 1 ? '' : 's'} — ${count('online')} online, ${count('stale')} stale, ${count('offline')} offline`
    : 'No agents connected.';
  fill($('#agents-body'), all.map(row));
}

export function init() {
  on('agents', render);
  on('tab', (t) => { if (t === 'agents') { render(); roster.refresh().catch(() => {}); } });
  setInterval(() => { if (isActive('agents')) render(); }, 5000);
  render();
}
