// The message box: Enter sends, Shift+Enter adds a line, drafts are kept per channel for
// the session. Files come from the Attach button, drag-and-drop onto the conversation or
// a paste; each uploads at once and is sent with the next message as payload.attachments.
// Messages go through REST (POST /api/messages), which answers after the commit.

import { $, h, fill, toast } from './dom.js';
import { api, displayName } from './api.js';
import { uploadFile } from './attachments.js';
import { attachMentions } from './mentions.js';
import { activeChannel } from './chat.js';
import * as store from './messages.js';
import { names as agentNames } from './roster.js';
import { connectionState } from './connection.js';
import { on } from './events.js';

const DRAFTS_KEY = 'orochi_drafts';
let pending = [];
let input;

const drafts = () => { try { return JSON.parse(sessionStorage.getItem(DRAFTS_KEY) || '{}'); } catch { return {}; } };
const saveDraft = (ch, text) => { const d = drafts(); if (text) d[ch] = text; else delete d[ch]; sessionStorage.setItem(DRAFTS_KEY, JSON.stringify(d)); };

/** Posts a message (to the active channel by default); resolves to the hub's reply. */
export async function sendMessage(content, attachments = [], metadata = null, channel = activeChannel()) {
  const payload = { channel, content };
  if (attachments.length) payload.attachments = attachments;
  if (metadata) payload.metadata = metadata;
  const reply = await api('/api/messages', { method: 'POST', body: { sender: displayName(), payload } });
  if (connectionState() !== 'live') store.resume(store.channel(channel)).catch(() => {});
  return reply;
}

function renderPending() {
  fill($('#pending-files'), pending.map((p) => h('span', { class: `chip ${p.status}`, title: p.error || '' },
    `${p.file.name || 'pasted image'} · ${p.status}`,
    h('button', { type: 'button', class: 'x', 'aria-label': 'remove', onclick: () => { pending = pending.filter((q) => q !== p); renderPending(); } }, '×'))));
}

/** Stages files: each uploads now and is attached to the next message. */
export function addFiles(files) {
  for (const file of files) {
    const p = { file, status: 'uploading', result: null, error: '' };
    p.done = uploadFile(file)
      .then((r) => { p.status = 'ready'; p.result = r; })
      .catch((e) => { p.status = 'failed'; p.error = e.message; toast(`Upload of ${file.name} failed: ${e.message}`, 'error'); })
      .finally(renderPending);
    pending.push(p);
  }
  renderPending();
}

async function submit() {
  const text = input.value.trim();
  if (!text && !pending.length) return;
  const btn = $('#send-btn');
  btn.disabled = true;
  try {
    const batch = pending.slice();
    await Promise.all(batch.map((p) => p.done));
    const ready = batch.filter((p) => p.status === 'ready');
    if (!text && !ready.length) return;
    const atts = ready.map((p) => p.result);
    await sendMessage(text || atts.map((a) => a.filename).join(', '), atts);
    input.value = '';
    saveDraft(activeChannel(), '');
    pending = pending.filter((p) => !batch.includes(p));
    renderPending();
    grow();
  } catch (e) {
    toast(`Not sent: ${e.message}`, 'error');
  } finally {
    btn.disabled = false;
    input.focus();
  }
}

function grow() {
  input.style.height = 'auto';
  input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
}

function wireDrop(zone) {
  const hint = $('#drop-hint');
  const hasFiles = (ev) => [...(ev.dataTransfer?.types || [])].includes('Files');
  zone.addEventListener('dragover', (ev) => { if (hasFiles(ev)) { ev.preventDefault(); hint.hidden = false; } });
  zone.addEventListener('dragleave', (ev) => { if (!zone.contains(ev.relatedTarget)) hint.hidden = true; });
  zone.addEventListener('drop', (ev) => {
    hint.hidden = true;
    if (!hasFiles(ev)) return;
    ev.preventDefault();
    addFiles([...ev.dataTransfer.files]);
  });
}

export function init() {
  input = $('#msg-input');
  const recentSenders = () => store.channel(activeChannel()).rows.slice(-100).map((r) => r.sender);
  attachMentions(input, $('#mention-menu'), () => [...agentNames(), ...recentSenders(), 'all']);
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); submit(); }
  });
  input.addEventListener('input', () => { grow(); saveDraft(activeChannel(), input.value); });
  input.addEventListener('paste', (ev) => {
    const files = [...(ev.clipboardData?.files || [])];
    if (files.length) { ev.preventDefault(); addFiles(files); }
  });
  $('#composer').addEventListener('submit', (ev) => { ev.preventDefault(); submit(); });
  $('#attach-btn').addEventListener('click', () => $('#file-input').click());
  $('#file-input').addEventListener('change', (ev) => { addFiles([...ev.target.files]); ev.target.value = ''; });
  wireDrop($('#conversation'));
  on('channel', (name) => {
    input.placeholder = `Message ${name} — @ to mention, Enter to send, Shift+Enter for a new line`;
    input.value = drafts()[name] || '';
    grow();
  });
}
