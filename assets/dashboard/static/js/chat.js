// The Chat tab's channel list and message list. Data comes from messages.js; this file
// only renders it, pages older history when the list is scrolled to the top, and keeps the
// view pinned to the bottom while new messages arrive.

import { $, h, fill, clock, throttle } from './dom.js';
import * as store from './messages.js';
import { api, displayName } from './api.js';
import { render, mentionsOf } from './markdown.js';
import { renderAttachments } from './attachments.js';
import { isAgent } from './roster.js';
import { emit, on } from './events.js';
import { isActive } from './tabs.js';

const CHANNEL_KEY = 'orochi_channel';
let active = null;
let list;

export const activeChannel = () => (active ? active.name : '#general');

const onScreen = (ch) => ch === active && isActive('chat') && document.visibilityState === 'visible';
const unreadFor = (ch) => !onScreen(ch);

function hue(name) {
  let x = 0;
  for (const c of String(name)) x = (x * 31 + c.codePointAt(0)) % 360;
  return x;
}

const nearBottom = () => list.scrollHeight - list.scrollTop - list.clientHeight < 80;
const toBottom = () => { list.scrollTop = list.scrollHeight; pinned = true; };
// Whether the view follows new content; kept by scroll events because an image that loads
// later grows the list without scrolling it.
let pinned = true;
// Scroll events queued by a re-render (the browser clamps scrollTop when the list is
// replaced) arrive a frame later; they must not unpin the view.
let rendering = false;
function rendered() {
  rendering = true;
  requestAnimationFrame(() => requestAnimationFrame(() => { rendering = false; }));
}

// Views that add to every message (reactions, thread counts): fn(articleEl, row).
const decorators = [];
export const addDecorator = (fn) => decorators.push(fn);

/** A message's element, as the channel and the thread panel show it. */
export function messageEl(row, prev) {
  const me = displayName();
  const agent = row.senderType ? row.senderType === 'agent' : isAgent(row.sender);
  const cont = prev && prev.sender === row.sender && Date.parse(row.ts) - Date.parse(prev.ts) < 5 * 60e3;
  const classes = ['msg', agent ? 'agent' : 'human'];
  if (row.sender === me) classes.push('mine');
  if (me && mentionsOf(row.content).has(me)) classes.push('mentions-me');
  if (cont) classes.push('cont');
  const body = h('div', { class: 'body' });
  body.innerHTML = render(row.content, { me });
  const stick = () => { if (pinned) toBottom(); };
  const el = h('article', { class: classes.join(' '), dataset: { seq: row.seq ?? '', id: row.id ?? '', sender: row.sender } },
    h('header', {},
      h('span', { class: 'sender' }, row.sender),
      h('span', { class: 'kind' }, agent ? 'agent' : 'human'),
      h('time', { datetime: row.ts, title: row.ts }, clock(row.ts)),
      row.seq !== null ? h('span', { class: 'seq' }, `#${row.seq}`) : null),
    body,
    row.attachments.length ? renderAttachments(row.attachments, stick) : null);
  el.style.setProperty('--hue', hue(row.sender));
  for (const fn of decorators) fn(el, row);
  return el;
}

function statusLine(ch) {
  const text = ch.atStart ? `This is the beginning of ${ch.name}.` : ch.busy ? 'Loading…' : 'Scroll up for older messages';
  return h('div', { id: 'history-status', class: 'history-status' }, text);
}

function renderAll(keepBottom = true) {
  if (!active) return;
  const follow = keepBottom || pinned;
  rendered();
  fill(list, statusLine(active), active.rows.map((r, i) => messageEl(r, active.rows[i - 1])));
  if (follow) toBottom();
  maybeFillScreen();
}

function appendRows(rows) {
  const follow = pinned;
  for (const row of rows) {
    const i = active.rows.indexOf(row);
    list.append(messageEl(row, active.rows[i - 1]));
  }
  if (follow) toBottom();
}

function prependRows(rows) {
  const fromBottom = list.scrollHeight - list.scrollTop;
  rendered();
  fill(list, statusLine(active), active.rows.map((r, i) => messageEl(r, active.rows[i - 1])));
  list.scrollTop = list.scrollHeight - fromBottom;
  if (rows.length) maybeFillScreen();
}

/** Reads older pages until the list can scroll, so scrolling up can page further. */
function maybeFillScreen() {
  if (active && !active.atStart && !active.busy && list.scrollHeight <= list.clientHeight + 10) loadOlder();
}

function loadOlder() {
  const ch = active;
  store.older(ch).catch(() => {}).finally(() => {
    if (ch === active) $('#history-status')?.replaceWith(statusLine(ch));
  });
}

const renderChannels = throttle(() => {
  const names = [...store.channels.keys()].sort((a, b) => (a === '#general' ? -1 : b === '#general' ? 1 : a.localeCompare(b)));
  fill($('#channel-list'), names.map((n) => {
    const ch = store.channel(n);
    return h('li', {},
      h('button', { type: 'button', class: `channel${ch === active ? ' active' : ''}${ch.unread ? ' unread' : ''}`, dataset: { channel: n }, onclick: () => select(n) },
        h('span', { class: 'name' }, n),
        ch.unread ? h('span', { class: 'count' }, String(ch.unread)) : null));
  }));
  const total = [...store.channels.values()].reduce((s, c) => s + c.unread, 0);
  const badge = $('#unread-total');
  badge.textContent = String(total);
  badge.hidden = total === 0;
  document.title = total ? `(${total}) Orochi` : 'Orochi';
}, 150);

function onStoreChange(ch, kind, rows) {
  renderChannels();
  if (ch !== active) return;
  if (kind === 'append') appendRows(rows);
  else if (kind === 'older') prependRows(rows);
  else if (kind === 'insert' || kind === 'reset') renderAll(kind === 'reset');
}

function header() {
  $('#channel-title').textContent = active.name;
  const members = active.members || [];
  $('#channel-members').textContent = members.length ? `${members.length} member${members.length > 1 ? 's' : ''}: ${members.join(', ')}` : 'no agents subscribed';
}

export function select(name) {
  name = name.startsWith('#') ? name : `#${name}`;
  active = store.channel(name);
  active.unread = 0;
  localStorage.setItem(CHANNEL_KEY, name);
  header();
  renderChannels();
  renderAll(true);
  emit('channel', name);
  store.open(active).catch((e) => {
    $('#history-status')?.replaceWith(h('div', { id: 'history-status', class: 'history-status error' }, `Cannot load history: ${e.message}`));
  });
}

async function refreshChannels() {
  const map = await api('/api/channels');
  for (const [name, members] of Object.entries(map || {})) store.channel(name).members = Array.isArray(members) ? members : [];
  if (active) header();
  renderChannels();
}

/** The REST fallback while the socket is down; throws when the hub is unreachable. */
export async function poll() {
  const rows = await api('/api/messages?limit=200');
  for (const r of rows) store.ingest(r, unreadFor);
  if (active && active.loaded) await store.resume(active);
  await refreshChannels();
}

export async function init() {
  list = $('#messages');
  store.onChange(onStoreChange);
  on('frame', (f) => { if (f.type === 'message') store.ingest(f, unreadFor); });
  on('live', () => { store.resumeAll(); poll().catch(() => {}); });
  on('tab', (t) => { if (t === 'chat' && active) { active.unread = 0; renderChannels(); toBottom(); } });
  document.addEventListener('visibilitychange', () => { if (active && onScreen(active)) { active.unread = 0; renderChannels(); } });
  list.addEventListener('scroll', () => {
    if (rendering) return;
    pinned = nearBottom();
    if (list.scrollTop < 120) loadOlder();
  });
  $('#channel-add').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = $('#channel-add input');
    const name = input.value.trim().replace(/\s+/g, '-');
    if (name) select(name.startsWith('#') ? name : `#${name}`);
    input.value = '';
  });
  setInterval(() => refreshChannels().catch(() => {}), 30000);
  try { store.seed(await api('/api/messages?limit=500')); } catch { /* shown by the status indicator */ }
  await refreshChannels().catch(() => {});
  select(localStorage.getItem(CHANNEL_KEY) || '#general');
}
