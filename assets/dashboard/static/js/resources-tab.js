// The Resources tab: one card per machine from the heartbeat metrics in /api/resources
// (the newest report among the machine's agents). CPU load is load_avg_1m / cpu_count.
// Bars turn amber (warning) and red (critical) past the thresholds below; cluster and
// Slurm figures appear when the machine reports them.

import { $, h, fill, ago, ageMs } from './dom.js';
import { api } from './api.js';
import { on } from './events.js';
import { isActive } from './tabs.js';

const REFRESH_MS = 10000;
const LIMITS = { cpu: [70, 100], mem: [60, 80], disk: [60, 80], gpu: [80, 100] };

const n = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : null);

export function level(pct, [warn, crit]) {
  if (pct === null) return 'unknown';
  return pct >= crit ? 'critical' : pct >= warn ? 'warning' : 'ok';
}

const gb = (mb) => (mb / 1024).toFixed(1);

/**
 * The memory bar from whichever of mem_used_percent, mem_total_mb and mem_free_mb were
 * reported: the percentage as given (else from total and free), and the used amount from
 * total and free, else from total and the percentage; null without a percentage.
 */
export function memory(r) {
  const total = n(r.mem_total_mb) || null;
  const free = n(r.mem_free_mb);
  let pct = n(r.mem_used_percent);
  if (pct === null && total && free !== null) pct = ((total - free) / total) * 100;
  if (pct === null) return null;
  let text = '';
  if (total && free !== null) text = `${gb(total - free)} / ${gb(total)} GB`;
  else if (total) text = `${gb((total * pct) / 100)} / ${gb(total)} GB`;
  else if (free !== null) text = `${gb(free)} GB free`;
  return { pct, text };
}

/** The figures a card shows, from one agent's resources object. */
export function figures(r) {
  const out = [];
  const cpus = n(r.cpu_count);
  const load = n(r.load_avg_1m);
  if (cpus && load !== null) out.push({ key: 'cpu', label: 'CPU load', pct: (load / cpus) * 100, text: `${load.toFixed(2)} / ${cpus} CPUs` });
  const mem = memory(r);
  if (mem) out.push({ key: 'mem', label: 'Memory', ...mem });
  const disk = n(r.disk_used_percent);
  if (disk !== null) out.push({ key: 'disk', label: 'Disk', pct: disk, text: '' });
  const gt = n(r.cluster_gpus_total);
  if (gt) out.push({ key: 'gpu', label: 'Cluster GPUs', pct: ((n(r.cluster_gpus_allocated) ?? 0) / gt) * 100, text: `${n(r.cluster_gpus_allocated) ?? 0} / ${gt} allocated` });
  const ct = n(r.cluster_cpus_total);
  if (ct) out.push({ key: 'cpu', label: 'Cluster CPUs', pct: ((n(r.cluster_cpus_allocated) ?? 0) / ct) * 100, text: `${n(r.cluster_cpus_allocated) ?? 0} / ${ct} allocated` });
  const cm = n(r.cluster_mem_total_mb);
  if (cm) out.push({ key: 'mem', label: 'Cluster memory', pct: ((cm - (n(r.cluster_mem_free_mb) ?? cm)) / cm) * 100, text: `${((n(r.cluster_mem_free_mb) ?? 0) / 1024).toFixed(0)} GB free of ${(cm / 1024).toFixed(0)}` });
  return out;
}

function bar(f) {
  const pct = Math.max(0, Math.min(100, f.pct));
  const lvl = level(f.pct, LIMITS[f.key]);
  const fillEl = h('div', { class: `fill ${lvl}` });
  fillEl.style.width = `${pct}%`;
  return h('div', { class: `metric ${lvl}`, dataset: { metric: f.label } },
    h('div', { class: 'metric-head' }, h('span', {}, f.label), h('span', { class: 'value' }, `${Math.round(f.pct)}%`)),
    h('div', { class: 'bar' }, fillEl),
    f.text ? h('div', { class: 'sub' }, f.text) : null);
}

function card(machine, entries) {
  entries.sort((a, b) => (ageMs(a.last_heartbeat) ?? Infinity) - (ageMs(b.last_heartbeat) ?? Infinity));
  const newest = entries.find((e) => e.resources && Object.keys(e.resources).length) || entries[0];
  const r = newest.resources || {};
  const figs = figures(r);
  const worst = figs.map((f) => level(f.pct, LIMITS[f.key])).reduce((w, l) => (l === 'critical' || w === 'critical' ? 'critical' : l === 'warning' || w === 'warning' ? 'warning' : 'ok'), 'ok');
  const slurm = n(r.slurm_total_jobs) !== null || n(r.slurm_running) !== null;
  return h('article', { class: `resource-card ${worst}`, dataset: { machine } },
    h('header', {},
      h('h3', {}, machine),
      h('span', { class: `health ${worst}` }, worst === 'ok' ? 'healthy' : worst)),
    h('div', { class: 'sub' }, `${entries.map((e) => e.name).join(', ')} · heartbeat ${ago(newest.last_heartbeat)}`),
    r.cpu_model ? h('div', { class: 'sub' }, String(r.cpu_model)) : null,
    figs.length ? figs.map(bar) : h('p', { class: 'empty' }, 'No metrics reported yet.'),
    n(r.cluster_nodes) !== null ? h('div', { class: 'sub' }, `${n(r.cluster_nodes)} cluster nodes`) : null,
    slurm ? h('div', { class: 'sub' }, `Slurm: ${n(r.slurm_running) ?? 0} running, ${n(r.slurm_pending) ?? 0} pending, ${n(r.slurm_total_jobs) ?? 0} total`) : null);
}

export async function refresh() {
  const data = await api('/api/resources');
  const byMachine = new Map();
  for (const [name, v] of Object.entries(data || {})) {
    const machine = v.machine || 'unknown';
    if (!byMachine.has(machine)) byMachine.set(machine, []);
    byMachine.get(machine).push({ name, ...v });
  }
  const machines = [...byMachine.keys()].sort();
  fill($('#resources-grid'), machines.length ? machines.map((m) => card(m, byMachine.get(m))) : h('p', { class: 'empty' }, 'No machine has reported yet.'));
}

export function init() {
  const load = () => refresh().catch((e) => { $('#resources-grid').dataset.error = e.message; });
  on('tab', (t) => { if (t === 'resources') load(); });
  setInterval(() => { if (isActive('resources')) load(); }, REFRESH_MS);
}
