// Tab switching: buttons [data-tab] show the panel #tab-NAME. The tab is kept in the URL
// fragment (#todo) so a reload stays put; 'tab' is emitted so views refresh when shown.

import { $$ } from './dom.js';
import { emit } from './events.js';

export const TABS = ['chat', 'todo', 'agents', 'resources', 'workspaces'];
let current = 'chat';

export const isActive = (name) => current === name;

export function show(name) {
  if (!TABS.includes(name)) name = 'chat';
  current = name;
  for (const b of $$('[data-tab]')) {
    const on = b.dataset.tab === name;
    b.setAttribute('aria-selected', String(on));
    b.classList.toggle('active', on);
  }
  for (const t of TABS) {
    const panel = document.getElementById(`tab-${t}`);
    if (panel) panel.hidden = t !== name;
  }
  if (location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`);
  emit('tab', name);
}

export function init() {
  for (const b of $$('[data-tab]')) b.addEventListener('click', () => show(b.dataset.tab));
  window.addEventListener('hashchange', () => show(location.hash.slice(1)));
  show(location.hash.slice(1) || 'chat');
}
