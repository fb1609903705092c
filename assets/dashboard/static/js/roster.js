// The agent list from /api/agents, shared by the Agents tab, @mention autocomplete and the
// agent/human badge. Refreshed every REFRESH_MS and (throttled) on presence and status
// frames. Agents that disconnect during this visit are remembered so the Agents tab can
// show them as offline.

import { api, newest } from './api.js';
import { emit, on } from './events.js';
import { throttle } from './dom.js';

const REFRESH_MS = 15000;

let agents = [];
const departed = new Map();

export const current = () => agents;
export const gone = () => [...departed.values()];
export const isAgent = (name) => agents.some((a) => a.name === name) || departed.has(name);
export const names = () => agents.map((a) => a.name);

const readAgents = newest(() => api('/api/agents'));

export async function refresh() {
  const list = await readAgents();
  if (!Array.isArray(list)) return agents; // stale, or not a list
  for (const a of agents) {
    if (!list.some((b) => b.name === a.name)) departed.set(a.name, { ...a, departed_at: new Date().toISOString() });
  }
  for (const a of list) departed.delete(a.name);
  agents = list;
  emit('agents', agents);
  return agents;
}

const soon = throttle(() => refresh().catch(() => {}), 1500);

export function start() {
  on('frame', (f) => {
    if (f.type === 'presence_change' || f.type === 'status_update') soon();
  });
  on('live', soon);
  refresh().catch(() => {});
  setInterval(() => refresh().catch(() => {}), REFRESH_MS);
}
