// Replies and threads. A reply names its parent's hub msg_id in metadata.reply_to (what the
// MCP bridge's `reply` tool and the TypeScript bridge send). Replies stay in the channel,
// marked "↪ reply to …"; a message with replies shows their count, and the thread panel
// shows one thread (GET /api/history/{channel}?thread=<root>), follows it live and posts
// into it. A thread is named by its root: a reply to a reply belongs to the root's thread.

import { $, h, fill, toast } from './dom.js';
import { api } from './api.js';
import * as store from './messages.js';
import { activeChannel, addDecorator, messageEl } from './chat.js';
import { sendMessage } from './composer.js';
import { on } from './events.js';

// The open thread: its channel, root, the ids belonging to it, and the rows shown.
let open = null; // { channel, root, ids: Set, shown: Set, rows: [] }

const index = (ch) => new Map(ch.rows.map((r) => [r.id, r]));

/** The root of a row's thread among the loaded rows (its own id when it answers nothing). */
function rootOf(byId, row) {
  let cur = row;
  const seen = new Set();
  while (cur.replyTo && !seen.has(cur.replyTo)) {
    seen.add(cur.replyTo);
    const parent = byId.get(cur.replyTo);
    if (!parent) return cur.replyTo;
    cur = parent;
  }
  return cur.id;
}

/** Replies per thread root among the loaded rows of a channel. */
function counts(ch) {
  const out = new Map();
  const byId = index(ch);
  for (const r of ch.rows) {
    if (!r.replyTo) continue;
    const root = rootOf(byId, r);
    out.set(root, (out.get(root) || 0) + 1);
  }
  return out;
}

const label = (n) => `${n} repl${n === 1 ? 'y' : 'ies'}`;

function decorate(el, row) {
  if (!row.id) return;
  if (row.replyTo) {
    const ch = store.channel(row.channel);
    const parent = ch.rows.find((r) => r.id === row.replyTo);
    const text = parent ? `${parent.sender}: ${parent.content.slice(0, 80)}` : 'an earlier message';
    el.querySelector('.body').before(h('button', {
      type: 'button', class: 'reply-ref', dataset: { replyTo: row.replyTo }, title: 'Open the thread',
      onclick: () => openThread(row.channel, rootOf(index(ch), row)),
    }, `↪ reply to ${text}`));
  }
  const foot = el.querySelector('.msg-foot') || el.appendChild(h('div', { class: 'msg-foot' }));
  foot.append(h('button', { type: 'button', class: 'replies', dataset: { thread: row.id }, hidden: true, onclick: () => openThread(row.channel, row.id) }, ''));
  const tools = el.querySelector('.msg-tools') || el.appendChild(h('div', { class: 'msg-tools' }));
  tools.append(h('button', {
    type: 'button', class: 'reply-btn ghost small', title: 'Reply in a thread',
    onclick: () => openThread(row.channel, rootOf(index(store.channel(row.channel)), row)),
  }, 'Reply'));
}

/** Shows each loaded root's reply count in the main list (and the thread panel). */
function showCounts() {
  const ch = store.channel(activeChannel());
  const n = counts(ch);
  for (const b of document.querySelectorAll('.msg .replies')) {
    const c = n.get(b.dataset.thread) || 0;
    b.hidden = c === 0;
    b.textContent = c ? label(c) : '';
  }
}

// Once per burst of changes, after the chat view has drawn them (its listener runs later).
let queued = false;
function refreshCounts() {
  if (queued) return;
  queued = true;
  queueMicrotask(() => { queued = false; showCounts(); });
}

function renderPanel() {
  const panel = $('#thread-panel');
  if (!open) { panel.hidden = true; return; }
  panel.hidden = false;
  panel.dataset.root = open.root;
  $('#thread-title').textContent = `Thread in ${open.channel}`;
  const rows = open.rows;
  fill($('#thread-messages'), rows.length ? rows.map((r, i) => messageEl(r, rows[i - 1])) : h('p', { class: 'empty' }, 'Loading…'));
  $('#thread-count').textContent = rows.length > 1 ? label(rows.length - 1) : 'no replies yet';
  refreshCounts();
}

function add(rows) {
  let changed = false;
  for (const r of rows) {
    if (!r.id || open.shown.has(r.id)) continue;
    if (!open.ids.has(r.id) && !(r.replyTo && open.ids.has(r.replyTo))) continue;
    open.ids.add(r.id);
    open.shown.add(r.id);
    let i = open.rows.length;
    while (i > 0 && r.seq !== null && open.rows[i - 1].seq !== null && open.rows[i - 1].seq > r.seq) i -= 1;
    open.rows.splice(i, 0, r);
    changed = true;
  }
  if (changed) renderPanel();
}

/** Opens the thread of `root` in `channel`: its stored rows, then live replies. */
export async function openThread(channel, root) {
  open = { channel, root, ids: new Set([root]), shown: new Set(), rows: [] };
  renderPanel();
  const mine = open;
  try {
    const rows = await api(`/api/history/${encodeURIComponent(channel.replace(/^#/, ''))}?thread=${encodeURIComponent(root)}&limit=1000`);
    if (open !== mine) return;
    add(rows.map(store.normalize));
    // Replies that arrived while the thread was being read.
    add(store.channel(channel).rows.filter((r) => r.replyTo));
    renderPanel();
  } catch (e) {
    toast(`Cannot read the thread: ${e.message}`, 'error');
  }
  $('#thread-input').focus();
}

export function closeThread() {
  open = null;
  renderPanel();
}

async function submit(ev) {
  ev.preventDefault();
  const input = $('#thread-input');
  const text = input.value.trim();
  if (!text || !open) return;
  const btn = $('#thread-send');
  btn.disabled = true;
  try {
    await sendMessage(text, [], { reply_to: open.root }, open.channel);
    input.value = '';
  } catch (e) {
    toast(`Reply not sent: ${e.message}`, 'error');
  } finally {
    btn.disabled = false;
    input.focus();
  }
}

export function init() {
  addDecorator(decorate);
  store.onChange((ch, kind, rows) => {
    if (open && ch.name === open.channel && rows.length) add(rows);
    if (ch.name === activeChannel()) refreshCounts();
  });
  on('channel', (name) => { if (open && open.channel !== name) closeThread(); else refreshCounts(); });
  $('#thread-close').addEventListener('click', closeThread);
  $('#thread-form').addEventListener('submit', submit);
  $('#thread-input').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) submit(ev);
    if (ev.key === 'Escape') closeThread();
  });
}
