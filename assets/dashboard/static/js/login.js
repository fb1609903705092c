// Asks for the token once and keeps it in localStorage (never in the URL). A token is
// accepted when an authenticated read succeeds; the admin token is needed for the live
// socket and for writes, a workspace token gives a read-only view over REST. The display name
// is checked by the hub's name rules before it is kept.

import { $, toast } from './dom.js';
import { api, ApiError, setToken, token, displayName, setDisplayName } from './api.js';
import { checkName } from './settings.js';

/** Resolves once a working token is stored. */
export function ensureToken() {
  return new Promise((resolve) => {
    const check = async (t) => {
      await api('/api/channels', { tokenOverride: t });
      return t;
    };
    const form = $('#login-form');
    const error = $('#login-error');
    const panel = $('#login');
    form.elements.namedItem('name').value = displayName();
    const done = () => { panel.hidden = true; document.body.classList.remove('signed-out'); resolve(); };
    const ask = (message = '') => {
      error.textContent = message;
      document.body.classList.add('signed-out');
      panel.hidden = false;
      form.elements.namedItem('token').focus();
    };
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const t = form.elements.namedItem('token').value.trim();
      const name = form.elements.namedItem('name').value.trim() || 'human';
      if (!t) return ask('Enter the hub token.');
      error.textContent = 'Checking…';
      try {
        await check(t);
        const refused = await checkName(name, t);
        if (refused) return ask(`The hub refuses the name ${name}: ${refused}`);
        setToken(t);
        setDisplayName(name);
        form.elements.namedItem('token').value = '';
        done();
      } catch (e) {
        ask(e instanceof ApiError && e.status === 401 ? 'The hub refused this token.' : `Cannot reach the hub: ${e.message}`);
      }
    });
    if (!token()) return ask();
    check(token()).then(done).catch((e) => {
      if (e instanceof ApiError && e.status === 401) ask('The stored token was refused; enter it again.');
      else { toast(`Hub unreachable: ${e.message}`, 'error'); done(); }
    });
  });
}
