// @mention autocomplete for the message box: typing "@wo" offers matching agent names;
// arrows move, Enter or Tab inserts, Escape closes.

import { h, fill } from './dom.js';

export function attachMentions(input, menu, candidates) {
  let items = [];
  let index = 0;
  let start = -1;

  const close = () => { menu.hidden = true; items = []; start = -1; };

  function query() {
    const before = input.value.slice(0, input.selectionStart);
    const m = before.match(/(^|[^\p{L}\p{N}_@-])@([\p{L}\p{N}_-]*)$/u);
    if (!m) return null;
    return { word: m[2], at: before.length - m[2].length - 1 };
  }

  function update() {
    const q = query();
    if (!q) return close();
    const word = q.word.toLowerCase();
    const names = [...new Set(candidates())].filter((n) => n.toLowerCase().includes(word));
    names.sort((a, b) => Number(!a.toLowerCase().startsWith(word)) - Number(!b.toLowerCase().startsWith(word)) || a.localeCompare(b));
    items = names.slice(0, 8);
    if (!items.length) return close();
    start = q.at;
    index = Math.min(index, items.length - 1);
    fill(menu, items.map((name, i) => h('li', {
      role: 'option', class: i === index ? 'selected' : '', 'aria-selected': String(i === index), dataset: { name },
      onmousedown: (ev) => { ev.preventDefault(); pick(name); },
    }, `@${name}`)));
    menu.hidden = false;
  }

  function pick(name) {
    const end = input.selectionStart;
    const text = `@${name} `;
    input.value = input.value.slice(0, start) + text + input.value.slice(end);
    const caret = start + text.length;
    input.setSelectionRange(caret, caret);
    close();
    input.dispatchEvent(new Event('input'));
    input.focus();
  }

  input.addEventListener('input', () => { index = 0; update(); });
  input.addEventListener('blur', () => setTimeout(close, 100));
  input.addEventListener('keydown', (ev) => {
    if (menu.hidden || !items.length) return;
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      ev.preventDefault();
      index = (index + (ev.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length;
      update();
    } else if (ev.key === 'Enter' || ev.key === 'Tab') {
      ev.preventDefault();
      ev.stopImmediatePropagation();
      pick(items[index]);
    } else if (ev.key === 'Escape') {
      ev.preventDefault();
      close();
    }
  });
  return { isOpen: () => !menu.hidden };
}
