// The TODO tab: the hub's task list as compact one-line rows grouped by priority; a click
// opens the details (body, dates, actions). Changes arrive as todo_update frames, with a
// slow poll as a backstop.

import { $, h, fill, ago, toast } from './dom.js';
import { api, displayName, newest, stale } from './api.js';
import { render as markdown } from './markdown.js';
import { on } from './events.js';
import { isActive } from './tabs.js';

const PRIORITIES = ['high', 'medium', 'low', 'future'];
const REFRESH_MS = 30000;
let todos = [];
const openIds = new Set();

async function act(label, fn) {
  try {
    await fn();
    await refresh();
  } catch (e) {
    toast(`${label} failed: ${e.message}`, 'error');
  }
}

function details(t) {
  const body = h('div', { class: 'todo-body' });
  body.innerHTML = t.body ? markdown(t.body, { me: displayName() }) : '<em>No details.</em>';
  const prio = h('select', { class: 'todo-priority', 'aria-label': 'priority' },
    PRIORITIES.map((p) => h('option', { value: p, selected: p === t.priority }, p)));
  prio.addEventListener('change', () => act('Change', () => api(`/api/todos/${t.id}`, { method: 'PATCH', body: { priority: prio.value } })));
  const btn = (label, fn, cls = '') => h('button', { type: 'button', class: cls, onclick: (ev) => { ev.stopPropagation(); act(label, fn); } }, label);
  return h('div', { class: 'todo-details' },
    body,
    h('dl', { class: 'todo-meta' },
      h('dt', {}, 'Created'), h('dd', {}, `${ago(t.created_at)}${t.created_by ? ` by ${t.created_by}` : ''}`),
      h('dt', {}, 'Updated'), h('dd', {}, ago(t.updated_at)),
      t.closed_at ? [h('dt', {}, 'Closed'), h('dd', {}, ago(t.closed_at))] : null),
    h('div', { class: 'todo-actions' },
      t.status !== 'done' && t.assignee !== displayName()
        ? btn(`Claim as ${displayName()}`, () => api(`/api/todos/${t.id}/claim`, { method: 'POST', body: { assignee: displayName() } })) : null,
      t.status !== 'done' ? btn('Close', () => api(`/api/todos/${t.id}/close`, { method: 'POST' })) : null,
      t.status === 'done' ? btn('Reopen', () => api(`/api/todos/${t.id}`, { method: 'PATCH', body: { status: 'open' } })) : null,
      prio,
      btn('Delete', () => (confirm(`Delete task #${t.id}?`) ? api(`/api/todos/${t.id}`, { method: 'DELETE' }) : null), 'danger')));
}

function row(t) {
  const open = openIds.has(t.id);
  const line = h('button', { type: 'button', class: 'todo-line', 'aria-expanded': String(open),
    onclick: () => { if (open) openIds.delete(t.id); else openIds.add(t.id); render(); } },
    h('span', { class: `prio ${t.priority}` }),
    h('span', { class: 'id' }, `#${t.id}`),
    h('span', { class: 'title' }, t.title),
    h('span', { class: `pill ${t.status}` }, t.status),
    h('span', { class: 'assignee' }, t.assignee ? `@${t.assignee}` : ''),
    h('span', { class: 'age' }, ago(t.updated_at)));
  return h('li', { class: `todo-row ${t.status}`, dataset: { id: t.id } }, line, open ? details(t) : null);
}

function render() {
  const showDone = $('#todo-show-done').checked;
  const visible = todos.filter((t) => showDone || t.status !== 'done');
  const groups = PRIORITIES.map((p) => {
    const items = visible.filter((t) => t.priority === p);
    return h('section', { class: 'todo-group', dataset: { priority: p } },
      h('h3', {}, h('span', { class: `prio ${p}` }), `${p[0].toUpperCase()}${p.slice(1)}`, h('span', { class: 'count' }, String(items.length))),
      items.length ? h('ul', {}, items.map(row)) : h('p', { class: 'empty' }, 'Nothing here.'));
  });
  fill($('#todo-groups'), groups);
  const openCount = todos.filter((t) => t.status !== 'done').length;
  $('#todo-summary').textContent = `${openCount} open, ${todos.length - openCount} done`;
}

const readTodos = newest(() => api('/api/todos'));

export async function refresh() {
  const list = await readTodos();
  if (list === stale) return;
  todos = list;
  render();
}

export function init() {
  $('#todo-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const v = (name) => f.elements.namedItem(name).value;
    const body = { title: v('title'), priority: v('priority'), body: v('body'), created_by: displayName() };
    if (v('assignee').trim()) body.assignee = v('assignee').trim();
    try {
      const t = await api('/api/todos', { method: 'POST', body });
      f.reset();
      openIds.add(t.id);
      await refresh();
    } catch (e) {
      toast(`Task not created: ${e.message}`, 'error');
    }
  });
  $('#todo-show-done').addEventListener('change', render);
  on('frame', (f) => { if (f.type === 'todo_update') refresh().catch(() => {}); });
  on('tab', (t) => { if (t === 'todo') refresh().catch(() => {}); });
  setInterval(() => { if (isActive('todo')) refresh().catch(() => {}); }, REFRESH_MS);
  refresh().catch(() => {});
}
