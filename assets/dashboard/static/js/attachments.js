// Attachments: uploading files (button, drag-and-drop, paste all end here) and showing
// them in messages. Hub media is fetched with the token header and shown through blob:
// URLs; raster images inline, other files as a download link with their size. Links
// elsewhere are shown only when they are http(s), and never fetched with the token.

import { api, mediaBlobUrl, hubMediaUrl, externalUrl } from './api.js';
import { h, bytes, toast } from './dom.js';

const INLINE = /^image\/(png|jpeg|gif|webp|avif|bmp)$/;

/** Uploads one file; resolves to the hub's attachment object. */
export function uploadFile(file) {
  const form = new FormData();
  form.append('file', file, file.name || 'upload');
  return api('/api/upload', { method: 'POST', body: form });
}

/** Uploads a data: URL (the sketch canvas). */
export function uploadDataUrl(data, filename, mime) {
  return api('/api/upload-base64', { method: 'POST', body: { data, filename, mime_type: mime } });
}

async function download(att) {
  try {
    const url = await mediaBlobUrl(att.url);
    const a = h('a', { href: url, download: att.filename || 'download' });
    document.body.append(a);
    a.click();
    a.remove();
  } catch (e) {
    toast(`Download failed: ${e.message}`, 'error');
  }
}

function label(att) {
  const name = String(att.filename || (att.url || '').split('/').pop() || 'file');
  return typeof att.size === 'number' ? `${name} (${bytes(att.size)})` : name;
}

function one(att, onLoad) {
  if (!att || typeof att !== 'object') return null;
  const mine = hubMediaUrl(att.url);
  if (mine && INLINE.test(String(att.mime_type || ''))) {
    const img = h('img', { class: 'inline-image', alt: String(att.filename || 'image'), loading: 'lazy' });
    const box = h('figure', { class: 'attachment image' }, img, h('figcaption', {}, label(att)));
    mediaBlobUrl(att.url)
      .then((url) => {
        img.addEventListener('load', onLoad, { once: true });
        img.src = url;
        img.addEventListener('click', () => window.open(url, '_blank', 'noopener'));
      })
      .catch((e) => box.replaceChildren(h('span', { class: 'attachment error' }, `${label(att)}: ${e.message}`)));
    return box;
  }
  if (mine) {
    return h('a', { class: 'attachment file', href: '#', onclick: (ev) => { ev.preventDefault(); download(att); } },
      h('span', { class: 'icon' }, 'FILE'), label(att));
  }
  const ext = externalUrl(att.url);
  if (ext) return h('a', { class: 'attachment file', href: ext, target: '_blank', rel: 'noopener noreferrer nofollow' }, label(att));
  return h('span', { class: 'attachment file' }, label(att));
}

export function renderAttachments(list, onLoad = () => {}) {
  return h('div', { class: 'attachments' }, list.map((a) => one(a, onLoad)));
}
