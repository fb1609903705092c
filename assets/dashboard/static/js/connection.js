// The observer socket and its REST fallback, and the header's state indicator:
//   ws: live     the socket is open; frames arrive as they are committed
//   ws: polling  the socket is down; REST is polled every POLL_MS and the socket retried
//   ws: offline  neither answers (or not started yet)
// The poll function is given by the caller; it throws when the hub cannot be reached.

import { wsUrl } from './api.js';
import { emit } from './events.js';
import { $ } from './dom.js';

const POLL_MS = 4000;
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 10000;

let socket = null;
let state = 'offline';
let pollTimer = null;
let retryTimer = null;
let retryMs = RETRY_MIN_MS;
let pollFn = async () => {};
let stopped = false;

export const connectionState = () => state;

function setState(next, detail = '') {
  state = next;
  const el = $('#conn-status');
  if (!el) return;
  el.textContent = `ws: ${next}`;
  el.className = `conn ${next}`;
  el.title = detail || {
    live: 'Live: the observer socket is open',
    polling: `Socket down: polling the REST API every ${POLL_MS / 1000} s and reconnecting`,
    offline: 'The hub does not answer',
  }[next];
}

async function pollOnce() {
  try {
    await pollFn();
    if (!socket || socket.readyState !== WebSocket.OPEN) setState('polling');
  } catch (e) {
    if (!socket || socket.readyState !== WebSocket.OPEN) setState('offline', String(e.message || e));
  }
}

function startPolling() {
  if (pollTimer || stopped) return;
  pollOnce();
  pollTimer = setInterval(pollOnce, POLL_MS);
}

function stopPolling() {
  clearInterval(pollTimer);
  pollTimer = null;
}

function scheduleRetry() {
  if (retryTimer || stopped) return;
  retryTimer = setTimeout(() => { retryTimer = null; connect(); }, retryMs);
  retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
}

function connect() {
  if (stopped) return;
  let ws;
  try {
    ws = new WebSocket(wsUrl());
  } catch (e) {
    startPolling();
    scheduleRetry();
    return;
  }
  socket = ws;
  ws.onopen = () => {
    retryMs = RETRY_MIN_MS;
    stopPolling();
    setState('live');
    emit('live');
  };
  ws.onmessage = (ev) => {
    let frame;
    try { frame = JSON.parse(ev.data); } catch { return; }
    if (frame && typeof frame === 'object') emit('frame', frame);
  };
  ws.onclose = () => {
    if (socket !== ws) return;
    socket = null;
    // Not live from this moment: the first poll may still be running when the socket
    // comes back, so it cannot be the one to say so.
    if (state === 'live') setState('polling');
    startPolling();
    scheduleRetry();
  };
  ws.onerror = () => { /* onclose follows and handles it */ };
}

/** Starts the socket; `poll` runs every few seconds while it is down. */
export function start(poll) {
  pollFn = poll;
  stopped = false;
  setState('offline', 'connecting…');
  connect();
}

export function stop() {
  stopped = true;
  stopPolling();
  clearTimeout(retryTimer);
  if (socket) { const s = socket; socket = null; s.close(); }
  setState('offline', 'signed out');
}
