// A tiny publish/subscribe bus so views do not import each other.
// Events: 'frame' (every observer-socket frame), 'live' (socket open), 'tab' (tab shown),
// 'agents' (agent list refreshed), 'identity' (display name changed).

const handlers = new Map();

export function on(type, fn) {
  if (!handlers.has(type)) handlers.set(type, new Set());
  handlers.get(type).add(fn);
  return () => handlers.get(type).delete(fn);
}

export function emit(type, data) {
  for (const fn of handlers.get(type) || []) {
    try { fn(data); } catch (e) { console.error(`handler for ${type} failed`, e); }
  }
}
