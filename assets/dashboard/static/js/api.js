// Where the hub is and how to talk to it. The token is kept in localStorage and sent as
// `Authorization: Bearer` on every REST call; only the observer WebSocket URL carries it
// as `?token=` (browsers cannot set WebSocket headers). Media is fetched with the header
// and shown through blob: URLs, so the token never appears in a page URL.
// Dev mode: when /api/config gives `ws_upstream`, REST and the socket go to that hub.

const TOKEN_KEY = 'orochi_token';
const NAME_KEY = 'orochi_name';

export const config = { version: '', wsUpstream: '', apiBase: '', wsBase: '' };

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/**
 * The REST and WebSocket bases for an upstream value (`wss://h`, `https://h`, `ws://h:1`,
 * `http://h/prefix`); '' or an invalid value means this page's own hub.
 */
export function bases(upstream, loc = window.location) {
  const own = { api: '', ws: `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}`, upstream: '' };
  if (!upstream) return own;
  let u;
  try { u = new URL(upstream); } catch { return own; }
  const secure = u.protocol === 'https:' || u.protocol === 'wss:';
  if (!secure && u.protocol !== 'http:' && u.protocol !== 'ws:') return own;
  const path = u.pathname.replace(/\/+$/, '').replace(/\/ws$/, '');
  return {
    api: `${secure ? 'https:' : 'http:'}//${u.host}${path}`,
    ws: `${secure ? 'wss:' : 'ws:'}//${u.host}${path}`,
    upstream: u.host,
  };
}

export async function loadConfig() {
  const r = await fetch('/api/config', { cache: 'no-store' });
  if (!r.ok) throw new ApiError(r.status, `cannot read /api/config (${r.status})`);
  const c = await r.json();
  const b = bases(c.ws_upstream || '');
  Object.assign(config, { version: c.version || '', wsUpstream: b.upstream, apiBase: b.api, wsBase: b.ws });
  return config;
}

export const token = () => localStorage.getItem(TOKEN_KEY) || '';
export const setToken = (t) => localStorage.setItem(TOKEN_KEY, t);
export const clearToken = () => localStorage.removeItem(TOKEN_KEY);
export const displayName = () => localStorage.getItem(NAME_KEY) || 'human';
export const setDisplayName = (n) => localStorage.setItem(NAME_KEY, n);

/** The observer socket URL (the only place the token is put in a URL). */
export const wsUrl = () => `${config.wsBase}/ws?token=${encodeURIComponent(token())}`;

/**
 * Calls the REST API. `body` is sent as JSON (or as-is when it is FormData). Resolves to the
 * parsed JSON; rejects with ApiError (status 0 when the hub is unreachable).
 */
export async function api(path, { method = 'GET', body, tokenOverride } = {}) {
  const headers = { Authorization: `Bearer ${tokenOverride ?? token()}` };
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) { headers['Content-Type'] = 'application/json'; payload = JSON.stringify(body); }
  let r;
  try {
    r = await fetch(`${config.apiBase}${path}`, { method, headers, body: payload, cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'hub unreachable');
  }
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!r.ok) throw new ApiError(r.status, (data && data.error) || `${r.status} ${r.statusText}`);
  return data;
}

/** What a `newest` read resolves to when a later call was made meanwhile. */
export const stale = Symbol('stale');

/**
 * Wraps a read of the hub so that only the newest call's answer is used: the answers to
 * overlapping calls (a frame, a tab switch and a timer all refresh) can arrive out of order,
 * and an older one would undo a newer one (an agent that left shown online again).
 */
export function newest(read) {
  let calls = 0;
  return async (...args) => {
    const mine = ++calls;
    const value = await read(...args);
    return mine === calls ? value : stale;
  };
}

/**
 * An attachment URL we may fetch with our token: a `/media/...` path on the hub (resolved
 * against the API base). Anything else returns null and is never fetched with the token.
 */
export function hubMediaUrl(url) {
  if (typeof url !== 'string' || !/^\/media\/[\w.\-/]+$/.test(url) || url.includes('..')) return null;
  return `${config.apiBase}${url}`;
}

/** A safe external link (http/https only), or null. */
export function externalUrl(url) {
  if (typeof url !== 'string') return null;
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch { return null; }
}

const blobs = new Map();

/** Fetches hub media with the token header once and returns a blob: URL. */
export function mediaBlobUrl(url) {
  const full = hubMediaUrl(url);
  if (!full) return Promise.reject(new Error('not hub media'));
  if (!blobs.has(full)) {
    const p = fetch(full, { headers: { Authorization: `Bearer ${token()}` } })
      .then((r) => { if (!r.ok) throw new ApiError(r.status, `media ${r.status}`); return r.blob(); })
      .then((b) => URL.createObjectURL(b));
    p.catch(() => blobs.delete(full));
    blobs.set(full, p);
  }
  return blobs.get(full);
}
