// Reactions on every message: the chips (emoji, count, who) under the message, and a picker
// to add one. Clicking a chip or a picker emoji toggles this person's reaction
// (POST /api/reactions {message_id, emoji, reactor}); reactions of the shown messages are read
// in batches (GET /api/reactions?message_ids=...) and kept current by `reaction_update` frames.

import { h, fill, toast } from './dom.js';
import { api, displayName } from './api.js';
import { addDecorator } from './chat.js';
import { on } from './events.js';

export const PICKS = ['👍', '👀', '✅', '🔄', '❓', '❌', '🎉', '❤️'];
const BATCH = 200;

/** msg_id -> Map(emoji -> Set(reactor)); only ids that were asked for. */
const known = new Map();
let wanted = new Set();
let timer = null;

const containers = (id) => document.querySelectorAll(`.reactions[data-for="${CSS.escape(id)}"]`);

function chips(id) {
  const byEmoji = known.get(id);
  const me = displayName();
  if (!byEmoji) return [];
  return [...byEmoji.entries()].filter(([, who]) => who.size).map(([emoji, who]) => h('button', {
    type: 'button', class: `reaction${who.has(me) ? ' mine' : ''}`, dataset: { emoji }, title: [...who].join(', '),
    'aria-pressed': String(who.has(me)), onclick: () => toggle(id, emoji),
  }, h('span', { class: 'emoji' }, emoji), h('span', { class: 'n' }, String(who.size))));
}

function show(id) {
  for (const box of containers(id)) fill(box, chips(id));
}

function set(id, reactions) {
  known.set(id, new Map(Object.entries(reactions || {}).map(([e, who]) => [e, new Set(who)])));
  show(id);
}

async function fetchWanted() {
  timer = null;
  const ids = [...wanted].filter((id) => !known.has(id));
  wanted = new Set();
  for (let i = 0; i < ids.length; i += BATCH) {
    const part = ids.slice(i, i + BATCH);
    try {
      const got = await api(`/api/reactions?message_ids=${part.map(encodeURIComponent).join(',')}`);
      for (const id of part) set(id, (got || {})[id]);
    } catch { /* shown again at the next render */ }
  }
}

function want(id) {
  if (known.has(id)) return;
  wanted.add(id);
  if (!timer) timer = setTimeout(fetchWanted, 50);
}

export async function toggle(id, emoji) {
  try {
    const r = await api('/api/reactions', { method: 'POST', body: { message_id: id, emoji, reactor: displayName() } });
    set(id, r.reactions);
  } catch (e) {
    toast(`Reaction not saved: ${e.message}`, 'error');
  }
}

function picker(id) {
  return h('div', { class: 'reaction-picker', role: 'menu' }, PICKS.map((emoji) => h('button', {
    type: 'button', class: 'pick', role: 'menuitem', dataset: { emoji }, title: `React ${emoji}`,
    onclick: (ev) => { ev.currentTarget.closest('.reaction-picker').remove(); toggle(id, emoji); },
  }, emoji)));
}

function decorate(el, row) {
  if (!row.id) return;
  const foot = el.querySelector('.msg-foot') || el.appendChild(h('div', { class: 'msg-foot' }));
  const box = h('div', { class: 'reactions', dataset: { for: row.id } });
  foot.prepend(box);
  const tools = el.querySelector('.msg-tools') || el.appendChild(h('div', { class: 'msg-tools' }));
  tools.prepend(h('button', {
    type: 'button', class: 'react-btn ghost small', title: 'Add a reaction', 'aria-label': 'Add a reaction',
    onclick: () => {
      const old = el.querySelector('.reaction-picker');
      if (old) old.remove(); else tools.after(picker(row.id));
    },
  }, '☺+'));
  if (known.has(row.id)) fill(box, chips(row.id));
  else want(row.id);
}

/** A `reaction_update` frame: one reactor added or removed one emoji. */
function update(f) {
  const p = f.payload || {};
  if (typeof p.message_id !== 'string' || typeof p.emoji !== 'string' || typeof p.reactor !== 'string') return;
  if (!known.has(p.message_id)) { want(p.message_id); return; }
  const byEmoji = known.get(p.message_id);
  if (!byEmoji.has(p.emoji)) byEmoji.set(p.emoji, new Set());
  if (p.action === 'remove') byEmoji.get(p.emoji).delete(p.reactor);
  else byEmoji.get(p.emoji).add(p.reactor);
  show(p.message_id);
}

export function init() {
  addDecorator(decorate);
  on('frame', (f) => { if (f.type === 'reaction_update') update(f); });
  // After a reconnect the frames missed are gone: read the shown messages' reactions again.
  on('live', () => {
    const ids = [...known.keys()];
    known.clear();
    ids.forEach(want);
  });
}
