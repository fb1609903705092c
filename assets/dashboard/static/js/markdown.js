// A safe markdown subset for chat and task bodies. Everything the user wrote is
// HTML-escaped; the only tags in the output are the ones built here: <pre><code>, <code>,
// <strong>, <em>, <del>, <a> (http, https and mailto only), <br>, and mention spans.
// Code and links are cut out first and kept in numbered slots so later rules cannot touch
// them.

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ESC[c]);

/** The URL if it is http(s) or mailto, normalized; otherwise null (javascript:, data:, ...). */
export function safeHref(raw) {
  if (typeof raw !== 'string' || /[\s\u0000-\u001f\u007f]/.test(raw)) return null;
  let u;
  try { u = new URL(raw); } catch { return null; }
  return ['http:', 'https:', 'mailto:'].includes(u.protocol) ? u.href : null;
}

const link = (href, label) =>
  `<a href="${escapeHtml(href)}" target="_blank" rel="noopener noreferrer nofollow">${escapeHtml(label)}</a>`;

const MENTION = /(^|[^\p{L}\p{N}_@-])@([\p{L}\p{N}_-]+)/gu;

/** The names @mentioned in a text, as the hub parses them. */
export function mentionsOf(text) {
  return new Set([...String(text ?? '').matchAll(MENTION)].map((m) => m[2]));
}

/** Renders `text` to HTML. `me` highlights mentions of that name. */
export function render(text, { me = '' } = {}) {
  const slots = [];
  const keep = (html) => `\u0000${slots.push(html) - 1}\u0000`;
  let s = String(text ?? '').replace(/\u0000/g, '');

  s = s.replace(/```([\w+-]{0,20})[ \t]*\n?([\s\S]*?)```/g, (_, lang, code) =>
    keep(`<pre class="code"><code${lang ? ` data-lang="${escapeHtml(lang)}"` : ''}>${escapeHtml(code.replace(/\n$/, ''))}</code></pre>`));
  s = s.replace(/`([^`\n]+)`/g, (_, code) => keep(`<code>${escapeHtml(code)}</code>`));
  s = s.replace(/\[([^\]\n]{1,300})\]\(([^)\s]{1,2000})\)/g, (whole, label, url) => {
    const href = safeHref(url);
    return href ? keep(link(href, label)) : whole;
  });
  s = s.replace(/\bhttps?:\/\/[^\s<>"'`]*[^\s<>"'`.,;:!?)\]]/g, (url) => {
    const href = safeHref(url);
    return href ? keep(link(href, url)) : url;
  });

  s = escapeHtml(s);
  s = s.replace(/\*\*(?=\S)([^*\n]*?\S)\*\*/g, '<strong>$1</strong>');
  s = s.replace(/(^|[^\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])/g, '$1<em>$2</em>');
  s = s.replace(/(^|[^\w])_(?=\S)([^_\n]*?\S)_(?!\w)/g, '$1<em>$2</em>');
  s = s.replace(/~~(?=\S)([^~\n]*?\S)~~/g, '<del>$1</del>');
  s = s.replace(MENTION, (_, pre, name) =>
    `${pre}<span class="mention${name === me ? ' me' : ''}">@${name}</span>`);
  s = s
    .split('\n')
    .map((line) => line
      .replace(/^&gt; ?(.*)$/, '<span class="quote">$1</span>')
      .replace(/^[-*] (.*)$/, '• $1'))
    .join('<br>');
  return s.replace(/\u0000(\d+)\u0000/g, (_, i) => slots[Number(i)]);
}
