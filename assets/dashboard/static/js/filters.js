// Chat filters: by channel (narrows the channel list by name), by agent (only that sender's
// messages) and by machine (only messages of agents on that machine, from the agent list).
// The lists are filtered where they are drawn, so re-renders and live messages stay filtered.

import { $, h, fill, throttle } from './dom.js';
import * as roster from './roster.js';
import * as store from './messages.js';
import { activeChannel } from './chat.js';
import { on } from './events.js';

const state = { channel: '', agent: '', machine: '' };

/** The machine an agent reported, also for agents that left during this visit. */
function machineOf(name) {
  const a = roster.current().find((x) => x.name === name) || roster.gone().find((x) => x.name === name);
  return a && a.machine ? a.machine : '';
}

const keeps = (sender) => (!state.agent || sender === state.agent) && (!state.machine || machineOf(sender) === state.machine);

/** Hides what the filters leave out; returns [shown, total] messages. */
export function apply() {
  const needle = state.channel.toLowerCase();
  for (const b of document.querySelectorAll('#channel-list [data-channel]')) {
    b.closest('li').hidden = Boolean(needle) && !b.dataset.channel.toLowerCase().includes(needle);
  }
  const msgs = [...document.querySelectorAll('#messages .msg')];
  let shown = 0;
  for (const m of msgs) {
    const keep = keeps(m.dataset.sender);
    m.hidden = !keep;
    if (keep) shown += 1;
  }
  const active = Boolean(state.agent || state.machine);
  document.body.classList.toggle('filtering', active);
  const status = $('#filter-status');
  status.textContent = active ? `${shown} of ${msgs.length} shown` : '';
  $('#filter-clear').hidden = !(active || state.channel);
  return [shown, msgs.length];
}

/**
 * Fills a select with the values (and the chosen one, even when no longer seen). The options
 * are rebuilt only when the list changed: this runs on every message, and replacing the
 * options would close a dropdown the user has open (and drop the option being picked).
 */
function options(select, values, chosen, all) {
  const list = [...new Set([...values, chosen].filter(Boolean))].sort();
  const want = ['', ...list];
  const have = [...select.options].map((o) => o.value);
  if (have.length !== want.length || have.some((v, i) => v !== want[i])) {
    fill(select, h('option', { value: '' }, all), list.map((v) => h('option', { value: v }, v)));
  }
  if (select.value !== chosen) select.value = chosen;
}

function fillOptions() {
  const agents = [...roster.current(), ...roster.gone()];
  const senders = store.channel(activeChannel()).rows.map((r) => r.sender);
  options($('#filter-agent'), [...agents.map((a) => a.name), ...senders], state.agent, 'all senders');
  options($('#filter-machine'), agents.map((a) => a.machine), state.machine, 'all machines');
}

const refreshOptions = throttle(fillOptions, 300);

export function set(next) {
  Object.assign(state, next);
  $('#filter-channel').value = state.channel;
  fillOptions();
  apply();
}

export function init() {
  const observer = new MutationObserver(apply);
  observer.observe($('#messages'), { childList: true });
  observer.observe($('#channel-list'), { childList: true });
  $('#filter-channel').addEventListener('input', (ev) => { state.channel = ev.target.value.trim(); apply(); });
  $('#filter-agent').addEventListener('change', (ev) => { state.agent = ev.target.value; apply(); });
  $('#filter-machine').addEventListener('change', (ev) => { state.machine = ev.target.value; apply(); });
  $('#filter-clear').addEventListener('click', () => set({ channel: '', agent: '', machine: '' }));
  on('agents', () => { refreshOptions(); apply(); });
  on('channel', refreshOptions);
  store.onChange(refreshOptions);
  fillOptions();
  apply();
}
