// Web push for this browser. Nothing is asked on load: permission is requested only from a
// click on the bell. Subscribing reads the hub's VAPID key (GET /api/push/vapid-key ->
// {public_key}; 503 when the hub has no keys), subscribes through the service worker and
// registers the subscription (POST /api/push/subscribe {endpoint, keys:{p256dh, auth}}).
// The subscription carries the display name, so @mentions of that name reach this browser.
// The state shown is this browser's own (unsupported, blocked, off, on), checked against the
// hub (GET /api/push/subscription?endpoint=) so a subscription the hub dropped shows as off.

import { $, toast } from './dom.js';
import { api, displayName } from './api.js';

let busy = false;
// The service worker's registration (main.js starts it at boot).
let registering = null;

function b64urlToBytes(s) {
  const pad = '='.repeat((4 - (s.length % 4)) % 4);
  const bin = atob((s + pad).replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

const supported = () => 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;

function show(state, detail) {
  const el = $('#push-state');
  el.textContent = `push: ${state}`;
  el.dataset.state = state;
  el.title = detail || '';
  const btn = $('#push-toggle');
  btn.textContent = state === 'on' ? 'Disable notifications' : 'Enable notifications';
  btn.disabled = state === 'unsupported' || state === 'blocked';
}

/**
 * The active service worker. A failed registration rejects here; once registered it always
 * activates (its install step cannot fail), so `ready` is awaited without a timer, which on
 * a slow machine would report a working worker as missing.
 */
async function registration() {
  if (!registering) throw new Error('service worker not registered');
  await registering;
  return navigator.serviceWorker.ready;
}

export async function refresh() {
  if (!supported()) return show('unsupported', 'This browser has no Push API (or the page is not a secure context).');
  if (Notification.permission === 'denied') return show('blocked', 'Notifications are blocked for this site in the browser settings.');
  try {
    const sub = await (await registration()).pushManager.getSubscription();
    if (!sub) return show('off');
    const known = await api(`/api/push/subscription?endpoint=${encodeURIComponent(sub.endpoint)}`).catch(() => null);
    if (known && known.subscribed === false) return show('off', 'The hub no longer has this browser; enable again.');
    show('on', known && known.name ? `Notifies @${known.name}` : '');
  } catch (e) {
    show('off', String(e.message || e));
  }
}

async function enable() {
  let key;
  try {
    key = (await api('/api/push/vapid-key')).public_key;
  } catch (e) {
    const why = e.status === 503 ? 'the hub has no push keys yet (run setup-push on the hub)' : e.message;
    show('unavailable', why);
    toast(`Push unavailable: ${why}`, 'error');
    return;
  }
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') { await refresh(); return; }
  const reg = await registration();
  const old = await reg.pushManager.getSubscription();
  if (old) await old.unsubscribe(); // it may be for a key the hub has since rotated
  const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64urlToBytes(key) });
  const json = sub.toJSON();
  const body = { endpoint: json.endpoint, keys: { p256dh: json.keys.p256dh, auth: json.keys.auth }, name: displayName() };
  await api('/api/push/subscribe', { method: 'POST', body });
  toast('Notifications are on for this browser.');
}

async function disable() {
  const reg = await registration();
  const sub = await reg.pushManager.getSubscription();
  if (!sub) return;
  await api('/api/push/unsubscribe', { method: 'POST', body: { endpoint: sub.endpoint } }).catch(() => {});
  await sub.unsubscribe();
  toast('Notifications are off for this browser.');
}

/** Turns notifications on or off for this browser. */
export async function toggle() {
  if (busy || !supported()) return;
  busy = true;
  try {
    if ($('#push-state').dataset.state === 'on') await disable();
    else await enable();
  } catch (e) {
    toast(`Push: ${e.message || e}`, 'error');
  } finally {
    busy = false;
    if ($('#push-state').dataset.state !== 'unavailable') await refresh();
  }
}

export function init(worker) {
  registering = worker;
  $('#push-toggle').addEventListener('click', toggle);
  refresh();
}
