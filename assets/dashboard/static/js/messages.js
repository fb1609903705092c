// Chat data. Each channel keeps its loaded rows ordered by `seq` (deduplicated by seq and
// id), the contiguous range it holds [lo, hi], whether it reaches the first message, and an
// unread count. Older pages are read with `after_seq` below `lo`; after a reconnect or a gap
// the channel resumes with `after_seq=hi`, so the view has no hole and no duplicate.
// History rows arrive newest first from the API and are put in seq order here.

import { api } from './api.js';

const PAGE = 50;
const RESUME_PAGE = 1000;

export const channels = new Map();
const listeners = new Set();

/** Subscribes to changes: fn(channel, kind, rows) with kind append|insert|older|reset|meta. */
export function onChange(fn) {
  listeners.add(fn);
}

function changed(ch, kind, rows = []) {
  for (const fn of listeners) fn(ch, kind, rows);
}

export function channel(name) {
  if (!channels.has(name)) {
    channels.set(name, {
      name, rows: [], seqs: new Set(), ids: new Set(), seen: new Set(), loaded: false, atStart: false,
      lo: null, hi: 0, latest: 0, unread: 0, members: [], busy: null, resuming: false, again: false,
    });
  }
  return channels.get(name);
}

const list = (v) => (Array.isArray(v) && v.length ? v : null);
const num = (v) => (Number.isInteger(v) ? v : null);

/** The parent's msg_id a reply names (metadata.reply_to, as the MCP and TypeScript bridges send it). */
const replyTo = (meta) => (typeof meta.reply_to === 'string' && meta.reply_to ? meta.reply_to : null);

/** A history row or a live frame, in one shape. */
export function normalize(x) {
  if (x && typeof x.payload === 'object' && x.payload) {
    const p = x.payload;
    const meta = p.metadata && typeof p.metadata === 'object' ? p.metadata : {};
    return {
      id: x.id, ts: x.ts, channel: p.channel, sender: x.sender, content: p.content ?? p.text ?? '',
      attachments: list(p.attachments) || list(meta.attachments) || [], seq: num(x.seq), senderType: null,
      replyTo: replyTo(meta),
    };
  }
  const meta = x.metadata && typeof x.metadata === 'object' ? x.metadata : {};
  return {
    id: x.msg_id, ts: x.ts, channel: x.channel, sender: x.sender, content: x.content ?? '',
    attachments: list(x.attachments) || list(meta.attachments) || [], seq: num(x.seq), senderType: x.sender_type || null,
    replyTo: replyTo(meta),
  };
}

const path = (name) => `/api/history/${encodeURIComponent(name.replace(/^#/, ''))}`;

/** Adds a row to a loaded channel; returns 'dup', 'append' or 'insert'. */
function insertRow(ch, row) {
  if ((row.seq !== null && ch.seqs.has(row.seq)) || (row.id && ch.ids.has(row.id))) return 'dup';
  if (row.seq !== null) ch.seqs.add(row.seq);
  if (row.id) ch.ids.add(row.id);
  let i = ch.rows.length;
  if (row.seq !== null) while (i > 0 && ch.rows[i - 1].seq !== null && ch.rows[i - 1].seq > row.seq) i -= 1;
  ch.rows.splice(i, 0, row);
  if (row.seq !== null) {
    ch.latest = Math.max(ch.latest, row.seq);
    if (ch.lo === null || row.seq < ch.lo) ch.lo = row.seq;
    if (ch.hi < ch.lo - 1) ch.hi = ch.lo - 1;
    while (ch.seqs.has(ch.hi + 1)) ch.hi += 1;
  }
  return i === ch.rows.length - 1 ? 'append' : 'insert';
}

/**
 * Takes a message from the socket or a poll. `unread(ch)` says whether a new message in
 * that channel counts as unread (it is not on screen).
 */
export function ingest(raw, unread) {
  const row = normalize(raw);
  if (typeof row.channel !== 'string' || !row.channel) return;
  const ch = channel(row.channel);
  const fresh = row.seq === null ? !ch.ids.has(row.id) && !ch.seen.has(row.id) : row.seq > ch.latest;
  let kind = 'meta';
  if (ch.loaded) {
    kind = insertRow(ch, row);
    if (kind === 'dup') return;
  } else {
    if (!fresh) return;
    if (row.id && row.seq === null) ch.seen.add(row.id);
    if (row.seq !== null) ch.latest = row.seq;
  }
  if (fresh && unread(ch)) ch.unread += 1;
  changed(ch, kind, [row]);
  if (ch.loaded && row.seq !== null && row.seq > ch.hi + 1) resume(ch).catch(() => {});
}

/** Notes the newest seq of every channel without counting anything as unread. */
export function seed(rows) {
  for (const raw of rows) {
    const row = normalize(raw);
    if (!row.channel) continue;
    const ch = channel(row.channel);
    if (row.seq !== null) ch.latest = Math.max(ch.latest, row.seq);
    else if (row.id) ch.seen.add(row.id);
  }
}

/** Loads the newest page of a channel (once). */
export function open(ch) {
  if (ch.loaded) return Promise.resolve();
  if (ch.busy) return ch.busy;
  ch.loaded = true;
  ch.busy = api(`${path(ch.name)}?limit=${PAGE}`)
    .then((rows) => {
      for (const r of rows.slice().reverse()) insertRow(ch, normalize(r));
      if (rows.length < PAGE) ch.atStart = true;
      changed(ch, 'reset');
      if (ch.latest > ch.hi) resume(ch).catch(() => {});
    })
    .catch((e) => { ch.loaded = false; throw e; })
    .finally(() => { ch.busy = null; });
  return ch.busy;
}

/** Loads the page before the oldest loaded row; resolves to the number of rows added. */
export async function older(ch) {
  if (ch.atStart || ch.busy || !ch.loaded) return 0;
  const work = (async () => {
    if (ch.lo === null) {
      // A hub without seq: read a longer newest-first page instead.
      const rows = await api(`${path(ch.name)}?limit=${Math.min(ch.rows.length + PAGE, 1000)}`);
      const added = rows.slice().reverse().map(normalize).filter((r) => insertRow(ch, r) !== 'dup');
      if (rows.length < ch.rows.length + PAGE || rows.length >= 1000) ch.atStart = true;
      return added;
    }
    if (ch.lo <= 1) { ch.atStart = true; return []; }
    const after = Math.max(0, ch.lo - 1 - PAGE);
    const rows = await api(`${path(ch.name)}?after_seq=${after}&limit=${ch.lo - 1 - after}`);
    const added = rows.map(normalize).filter((r) => insertRow(ch, r) !== 'dup');
    if (after === 0 || rows.length === 0) ch.atStart = true;
    return added;
  })();
  ch.busy = work;
  try {
    const added = await work;
    changed(ch, 'older', added);
    return added.length;
  } finally {
    ch.busy = null;
  }
}

/** Reads everything after the contiguous range: after a reconnect, a poll or a gap. */
export async function resume(ch) {
  if (!ch.loaded) return;
  if (ch.resuming) { ch.again = true; return; }
  ch.resuming = true;
  try {
    do {
      ch.again = false;
      for (;;) {
        const rows = await api(`${path(ch.name)}?after_seq=${ch.hi}&limit=${RESUME_PAGE}`);
        const added = rows.map(normalize).filter((r) => insertRow(ch, r) !== 'dup');
        if (added.length) changed(ch, 'insert', added);
        if (rows.length < RESUME_PAGE) break;
      }
    } while (ch.again);
  } finally {
    ch.resuming = false;
  }
}

/** Resumes every loaded channel (after the socket comes back). */
export function resumeAll() {
  return Promise.all([...channels.values()].filter((c) => c.loaded).map((c) => resume(c).catch(() => {})));
}
