// The sketch pad: a 1200×800 canvas with pen, eraser, eight colours and three widths,
// exported as PNG, uploaded through /api/upload-base64 and sent to the active channel.

import { $, $$, h, fill, toast } from './dom.js';
import { uploadDataUrl } from './attachments.js';
import { sendMessage } from './composer.js';

const COLOURS = ['#111111', '#e53935', '#fb8c00', '#fdd835', '#43a047', '#1e88e5', '#8e24aa', '#ffffff'];
const WIDTHS = [3, 8, 20];
const PAPER = '#ffffff';

let canvas;
let ctx;
let tool = 'pen';
let colour = COLOURS[0];
let width = WIDTHS[0];
let drawing = null;

function clear() {
  ctx.fillStyle = PAPER;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
}

function point(ev) {
  const r = canvas.getBoundingClientRect();
  return { x: ((ev.clientX - r.left) * canvas.width) / r.width, y: ((ev.clientY - r.top) * canvas.height) / r.height };
}

function stroke(from, to) {
  ctx.strokeStyle = tool === 'eraser' ? PAPER : colour;
  ctx.lineWidth = tool === 'eraser' ? width * 3 : width;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.beginPath();
  ctx.moveTo(from.x, from.y);
  ctx.lineTo(to.x, to.y);
  ctx.stroke();
}

function select(group, value) {
  for (const b of $$(`#sketch-dialog [data-${group}]`)) b.classList.toggle('active', b.dataset[group] === String(value));
}

function toolbar() {
  const btn = (group, value, labelEl, title, onPick) => h('button', {
    type: 'button', class: `tool ${group}`, title, dataset: { [group]: value },
    onclick: () => { onPick(value); select(group, value); },
  }, labelEl);
  fill($('#sketch-tools'),
    btn('tool', 'pen', 'Pen', 'Pen', (v) => { tool = v; }),
    btn('tool', 'eraser', 'Eraser', 'Eraser', (v) => { tool = v; }),
    h('span', { class: 'sep' }),
    COLOURS.map((c) => {
      const b = btn('colour', c, '', `Colour ${c}`, (v) => { colour = v; tool = 'pen'; select('tool', 'pen'); });
      b.style.setProperty('--swatch', c);
      return b;
    }),
    h('span', { class: 'sep' }),
    WIDTHS.map((w, i) => btn('width', w, ['Thin', 'Medium', 'Thick'][i], `${w}px`, (v) => { width = Number(v); })),
    h('span', { class: 'sep' }),
    h('button', { type: 'button', class: 'tool', onclick: clear }, 'Clear'));
  select('tool', tool);
  select('colour', colour);
  select('width', width);
}

async function send() {
  const btn = $('#sketch-send');
  btn.disabled = true;
  try {
    const att = await uploadDataUrl(canvas.toDataURL('image/png'), 'sketch.png', 'image/png');
    await sendMessage('sketch', [att]);
    $('#sketch-dialog').close();
  } catch (e) {
    toast(`Sketch not sent: ${e.message}`, 'error');
  } finally {
    btn.disabled = false;
  }
}

export function init() {
  canvas = $('#sketch-canvas');
  ctx = canvas.getContext('2d');
  toolbar();
  clear();
  canvas.addEventListener('pointerdown', (ev) => {
    canvas.setPointerCapture(ev.pointerId);
    drawing = point(ev);
    stroke(drawing, drawing);
  });
  canvas.addEventListener('pointermove', (ev) => {
    if (!drawing) return;
    const p = point(ev);
    stroke(drawing, p);
    drawing = p;
  });
  for (const end of ['pointerup', 'pointercancel']) canvas.addEventListener(end, () => { drawing = null; });
  $('#sketch-btn').addEventListener('click', () => $('#sketch-dialog').showModal());
  $('#sketch-cancel').addEventListener('click', () => $('#sketch-dialog').close());
  $('#sketch-send').addEventListener('click', send);
}
