// Orochi service worker.
// - /api, /ws, /media, /healthz, /metrics and other origins: network only (never cached;
//   media needs the token and API answers must be live).
// - The page and its static files: network first, the cached copy when offline.
// - push: shows a notification from {title, body, tag, url}; a click focuses an open
//   dashboard or opens the URL (same origin only).

const CACHE = 'orochi-shell-v1';
const SHELL = ['/', '/static/css/app.css', '/static/css/chat.css', '/static/css/panels.css', '/static/js/main.js', '/static/orochi-icon.svg'];
const NETWORK_ONLY = /^\/(api|ws|media|healthz|metrics)(\/|$)/;

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).catch(() => {}));
  self.skipWaiting();
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key);
    await self.clients.claim();
  })());
});

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) cache.put(request, response.clone());
    return response;
  } catch (e) {
    const cached = await cache.match(request, { ignoreSearch: true });
    if (cached) return cached;
    throw e;
  }
}

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin || NETWORK_ONLY.test(url.pathname)) return;
  event.respondWith(networkFirst(event.request));
});

/** A same-origin path to open, or '/'. */
function target(url) {
  try {
    const u = new URL(url || '/', self.location.origin);
    return u.origin === self.location.origin ? u.href : new URL('/', self.location.origin).href;
  } catch {
    return new URL('/', self.location.origin).href;
  }
}

self.addEventListener('push', (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch { data = { body: event.data ? event.data.text() : '' }; }
  const title = typeof data.title === 'string' && data.title ? data.title : 'Orochi';
  const options = {
    body: typeof data.body === 'string' ? data.body : '',
    icon: '/static/orochi-192.png',
    badge: '/static/orochi-192.png',
    data: { url: target(data.url) },
  };
  if (typeof data.tag === 'string' && data.tag) { options.tag = data.tag; options.renotify = true; }
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || target('/');
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    for (const w of windows) {
      if (new URL(w.url).origin === self.location.origin) {
        await w.focus();
        if (new URL(w.url).pathname !== new URL(url).pathname && 'navigate' in w) await w.navigate(url).catch(() => {});
        return;
      }
    }
    await self.clients.openWindow(url);
  })());
});
