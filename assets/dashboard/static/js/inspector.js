// The element inspector. Alt+I (or the header button) toggles it; while it is on, the element
// under the pointer is outlined and a click picks it instead of acting on it. The panel shows
// the element's properties (tag, id, classes, attributes, text, box), a set of computed styles,
// its ancestor path (each step clickable), and a stable selector: an id or data-* attribute
// where one identifies it, else an :nth-of-type path, checked to find exactly this element.
// "Copy" puts the selector on the clipboard; "Insert" writes it into the message box, for
// telling an agent which element is meant.

import { h, fill, toast } from './dom.js';

const STYLES = ['display', 'position', 'box-sizing', 'width', 'height', 'margin', 'padding', 'border', 'color',
  'background-color', 'font-family', 'font-size', 'font-weight', 'line-height', 'z-index', 'opacity', 'visibility',
  'overflow', 'flex', 'grid-template-columns'];
// Attributes that name an element for good (the views set these; see dom.js and the tabs).
const STABLE_DATA = ['data-tab', 'data-channel', 'data-agent', 'data-machine', 'data-id', 'data-priority', 'data-metric', 'data-emoji', 'data-for', 'data-thread', 'data-name'];

// Classes that say a state, not what the element is: a selector with them would stop matching.
const STATE = new Set(['active', 'selected', 'current', 'unread', 'mine', 'open', 'cont', 'ready', 'inspecting', 'online',
  'offline', 'stale', 'ok', 'warning', 'critical', 'unknown', 'uploading', 'failed', 'mentions-me', 'filtering']);

let on = false;
let panel = null;
let outline = null;
let picked = null;

// The inspector's own panel, outline and header button are never picked.
const inPanel = (el) => panel && (panel.contains(el) || el === outline || Boolean(el.closest?.('#inspector-btn')));
const esc = (v) => CSS.escape(v);
// An attribute value inside double quotes: only `"` and `\` need escaping, so ids stay readable.
const quoted = (v) => `"${v.replace(/["\\]/g, '\\$&')}"`;
const unique = (sel, el) => { try { const all = document.querySelectorAll(sel); return all.length === 1 && all[0] === el; } catch { return false; } };

/**
 * One step of a selector for `el` among its siblings: `#id`, `tag[data-x="v"]`, `tag.class`
 * (a class no sibling of the same tag has), or `tag:nth-of-type(n)`.
 */
function step(el) {
  const tag = el.tagName.toLowerCase();
  if (el.id && /^[A-Za-z][\w-]*$/.test(el.id)) return { sel: `#${esc(el.id)}`, anchored: true };
  for (const name of STABLE_DATA) {
    if (el.hasAttribute(name)) return { sel: `${tag}[${name}=${quoted(el.getAttribute(name))}]`, anchored: false };
  }
  const parent = el.parentElement;
  if (!parent) return { sel: tag, anchored: true };
  const same = [...parent.children].filter((c) => c.tagName === el.tagName);
  const own = [...el.classList].find((c) => !STATE.has(c) && /^[A-Za-z][\w-]*$/.test(c) && same.every((o) => o === el || !o.classList.contains(c)));
  if (own) return { sel: `${tag}.${own}`, anchored: false };
  return { sel: same.length > 1 ? `${tag}:nth-of-type(${same.indexOf(el) + 1})` : tag, anchored: false };
}

/** The shortest selector path from a unique anchor (id, unique data-*, or the root) to `el`. */
export function selectorFor(el) {
  if (!(el instanceof Element)) return '';
  const parts = [];
  for (let cur = el; cur && cur.nodeType === 1; cur = cur.parentElement) {
    const s = step(cur);
    parts.unshift(s.sel);
    const sel = parts.join(' > ');
    if ((s.anchored || cur === document.documentElement) && unique(sel, el)) return sel;
    if (!s.anchored && unique(sel, el) && unique(s.sel, cur)) return sel;
    if (cur === document.documentElement) return sel;
  }
  return parts.join(' > ');
}

/** The element and its ancestors, outermost first. */
const ancestors = (el) => { const out = []; for (let c = el; c && c.nodeType === 1; c = c.parentElement) out.unshift(c); return out; };

const shortName = (el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.classList.length ? `.${[...el.classList].join('.')}` : ''}`;

function table(rows) {
  return h('table', { class: 'kv' }, h('tbody', {}, rows.map(([k, v]) => h('tr', { dataset: { key: k } }, h('th', {}, k), h('td', {}, v)))));
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Without clipboard permission (plain http, headless): the selection fallback.
    const ta = h('textarea', { class: 'visually-hidden' });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    document.execCommand('copy');
    ta.remove();
  }
  toast(`Copied ${text}`);
}

function insert(text) {
  const input = document.getElementById('msg-input');
  if (!input) return;
  const pre = input.value && !/\s$/.test(input.value) ? ' ' : '';
  input.value += `${pre}\`${text}\` `;
  input.dispatchEvent(new Event('input'));
  input.focus();
}

function show(el) {
  picked = el;
  const sel = selectorFor(el);
  const r = el.getBoundingClientRect();
  const cs = getComputedStyle(el);
  const attrs = [...el.attributes].filter((a) => a.name !== 'style').map((a) => [a.name, a.value]);
  const text = (el.textContent || '').trim().replace(/\s+/g, ' ');
  fill(panel.querySelector('.insp-body'),
    h('div', { class: 'insp-selector' },
      h('code', { id: 'inspector-selector' }, sel),
      h('button', { type: 'button', class: 'small', id: 'inspector-copy', onclick: () => copy(sel) }, 'Copy'),
      h('button', { type: 'button', class: 'small ghost', id: 'inspector-insert', onclick: () => insert(sel) }, 'Insert in message')),
    h('h4', {}, 'Place in the page'),
    h('ol', { class: 'insp-path', id: 'inspector-path' }, ancestors(el).map((a) => h('li', {},
      h('button', { type: 'button', class: `link${a === el ? ' current' : ''}`, onclick: () => show(a) }, shortName(a))))),
    h('h4', {}, 'Properties'),
    h('div', { id: 'inspector-props' }, table([
      ['tag', el.tagName.toLowerCase()],
      ['id', el.id || '—'],
      ['classes', [...el.classList].join(' ') || '—'],
      ['box', `${Math.round(r.width)} × ${Math.round(r.height)} at (${Math.round(r.left)}, ${Math.round(r.top)})`],
      ['children', String(el.children.length)],
      ['text', text.length > 120 ? `${text.slice(0, 120)}…` : text || '—'],
      ...attrs.filter(([k]) => k !== 'id' && k !== 'class').map(([k, v]) => [`@${k}`, v]),
    ])),
    h('h4', {}, 'Computed styles'),
    h('div', { id: 'inspector-styles' }, table(STYLES.map((p) => [p, cs.getPropertyValue(p)]))));
  panel.dataset.selector = sel;
  place(el);
}

function place(el) {
  if (!el || !outline) return;
  const r = el.getBoundingClientRect();
  Object.assign(outline.style, { left: `${r.left}px`, top: `${r.top}px`, width: `${r.width}px`, height: `${r.height}px` });
  outline.hidden = false;
}

function onMove(ev) {
  if (!on || inPanel(ev.target)) return;
  place(ev.target);
}

function onClick(ev) {
  if (!on || inPanel(ev.target)) return;
  ev.preventDefault();
  ev.stopPropagation();
  show(ev.target);
}

function build() {
  outline = h('div', { class: 'insp-outline', hidden: true });
  panel = h('aside', { id: 'inspector', class: 'inspector', role: 'dialog', 'aria-label': 'Element inspector', hidden: true },
    h('header', {}, h('strong', {}, 'Inspector'), h('span', { class: 'sub' }, 'click any element · Alt+I or Esc to close'),
      h('button', { type: 'button', class: 'ghost small', id: 'inspector-close', onclick: () => toggle(false) }, '×')),
    h('div', { class: 'insp-body' }, h('p', { class: 'empty' }, 'Click an element of the page.')));
  document.body.append(outline, panel);
}

/** Turns the inspector on or off (flips it without an argument). */
export function toggle(force) {
  on = force === undefined ? !on : force;
  panel.hidden = !on;
  outline.hidden = true;
  document.body.classList.toggle('inspecting', on);
  if (!on) picked = null;
}

export const current = () => ({ on, selector: panel && !panel.hidden ? panel.dataset.selector || '' : '', element: picked });

export function init() {
  build();
  document.addEventListener('keydown', (ev) => {
    if (ev.altKey && (ev.code === 'KeyI' || ev.key.toLowerCase() === 'i')) { ev.preventDefault(); toggle(); }
    else if (on && ev.key === 'Escape') toggle(false);
  }, true);
  document.addEventListener('mousemove', onMove, true);
  // Capture: the pick must not also press the button or follow the link under it.
  document.addEventListener('click', onClick, true);
  document.getElementById('inspector-btn')?.addEventListener('click', (ev) => { ev.stopPropagation(); toggle(); });
  window.orochiInspector = { toggle, current, selectorFor };
}
