// Settings → Organization: the account's Zero Trust organization (name,
// auth domain, login session, login page design) and its signing keys
// (rotation period, rotate now). PUT /access/organizations changes the
// fields it is sent: the form sends each one it shows, an emptied one as
// null, which removes it, and creates the organization when there is none.
import {api, get, readOnly, APIError} from './api.js';
import {h, clear, field, timeEl, confirmDialog, toast, errorBox, loading, showFormError, clearFieldErrors} from './dom.js';

const designFields = [
  ['background_color', 'Background color', 'The page around the card: a color such as #0055ff, #fff or a CSS color name such as navy.'],
  ['text_color', 'Text color', 'The header and footer texts on that background, in the same form.'],
  ['logo_path', 'Logo', 'An https:// URL, or a path such as /logo.svg on the page\'s host.'],
  ['header_text', 'Header text', null],
  ['footer_text', 'Footer text', null],
];

export async function render(main) {
  main.append(loading('Loading the organization'));
  let org = null;
  let etag = null;
  try {
    ({result: org, etag} = await get('/access/organizations'));
  } catch (e) {
    if (!(e instanceof APIError && e.status === 404)) { clear(main); throw e; }
  }
  clear(main).append(h('h1', 'Organization'),
    h('p.lead', 'The account\'s Zero Trust organization: its auth domain, how long a login lasts there, and the look of the login pages.'),
    orgForm(org, etag), h('div', {id: 'keys-box'}, loading('Loading the signing keys')));
  keysSection(main.querySelector('#keys-box'));
}

function orgForm(org, etag) {
  const ro = readOnly();
  const o = org || {};
  const d = o.login_design || {};
  const text = (id, value, attrs = {}) => h('input', {type: 'text', id, value: value || '', autocomplete: 'off', ...attrs});
  const name = text('org-name', o.name);
  const authDomain = text('org-auth-domain', o.auth_domain, {spellcheck: 'false', placeholder: 'team.example.com'});
  const session = text('org-session-duration', o.session_duration, {spellcheck: 'false', placeholder: '24h'});
  const design = designFields.map(([key, label, hint]) => {
    const input = text(`org-${key.replaceAll('_', '-')}`, d[key], key === 'logo_path' ? {spellcheck: 'false', placeholder: 'https://'} : {});
    return {key, input, wrap: field(label, input, {field: `login_design.${key}`, hint})};
  });
  const err = h('div', {'aria-live': 'assertive', id: 'org-form-error'});
  const status = h('p.hint', {id: 'org-status'}, org ? ['Updated ', timeEl(o.updated_at)] : 'No organization yet: saving creates it.');
  const form = h('form.card', {novalidate: true, id: 'org-form'},
    h('h2', 'Settings'), status,
    h('fieldset.plain', {disabled: ro},
      field('Name', name, {field: 'name'}),
      field('Auth domain', authDomain, {field: 'auth_domain', hint: 'The host users log in on, in lower case.'}),
      field('Session duration', session, {field: 'session_duration', hint: 'How long a login on the auth domain lasts, such as 30m or 24h (at most 8760h). Empty: 24h.'}),
      h('fieldset', {'data-field': 'login_design'}, h('legend', 'Login page design'), design.map((x) => x.wrap), h('p.field-error', {hidden: true}))),
    loginPreview(name, design),
    ro ? null : h('div.actions', h('button.btn.primary', {type: 'submit', id: 'save-org'}, 'Save')),
    err);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFieldErrors(form);
    clear(err);
    const value = (el) => el.value.trim() || null;
    const loginDesign = {};
    for (const x of design) if (x.input.value.trim()) loginDesign[x.key] = x.input.value.trim();
    const body = {name: value(name), auth_domain: value(authDomain), session_duration: value(session),
      login_design: Object.keys(loginDesign).length ? loginDesign : null};
    try {
      const r = await api('PUT', '/access/organizations', body, etag ? {ifMatch: etag} : {});
      etag = r.etag;
      clear(status).append('Updated ', timeEl(r.result.updated_at));
      toast('Saved the organization');
    } catch (ex) {
      if (ex instanceof APIError && ex.status === 412) {
        err.append(errorBox('Someone changed the organization since you opened it. Reload the page to see the change, then edit again.'));
        return;
      }
      showFormError(form, err, ex);
    }
  });
  return form;
}

/** The colors the pages accept: hex, or a CSS color name (as the API). */
function designColor(v) {
  return /^(#([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})|[a-zA-Z]{3,20})$/.test(v) && CSS.supports('color', v) &&
    !/^(currentcolor|inherit|initial|unset|revert)$/i.test(v) ? v : '';
}

/** The logos the pages accept: an https URL or a /path (as the API). */
function designLogo(v) {
  if (!v || /[\s"'<>\\`]/.test(v)) return '';
  if (v.startsWith('/')) return v.startsWith('//') ? '' : v;
  try { return new URL(v).protocol === 'https:' ? v : ''; } catch { return ''; }
}

/** sRGB relative luminance of a computed "rgb(r, g, b)" color. */
function luminance(rgb) {
  const [r, g, b] = (rgb.match(/[\d.]+/g) || ['0', '0', '0']).slice(0, 3).map((x) => {
    const c = Number(x) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/**
 * The sign-in page as users will see it with the design being edited: the
 * markup and styles of internal/pages (their rules, scoped as .lp- in app.css), updated
 * as the fields change. Colors and the logo are applied only when the
 * edge would apply them; the logo is shown as a placeholder naming it,
 * since the dashboard loads nothing from other sites.
 */
function loginPreview(name, design) {
  const input = (key) => design.find((x) => x.key === key).input;
  const header = h('span.lp-header', {id: 'preview-header-text'});
  const logo = h('span.lp-logo', {id: 'preview-logo', hidden: true});
  const footer = h('p.lp-footer', {id: 'preview-footer-text'});
  const contrast = h('p.hint', {id: 'preview-contrast', 'aria-live': 'polite'});
  const page = h('div.lp-page', {id: 'login-preview-page'},
    h('div.lp-brand', logo, header),
    h('div.lp-card',
      h('p.lp-title', 'Sign in to Example app'),
      h('p.lp-lead', 'Sign in with your identity provider, or get a one-time code by email.'),
      h('span.lp-btn.lp-primary', 'Sign in with your identity provider'),
      h('span.lp-or', 'or'),
      h('span.lp-label', 'Email address'),
      h('span.lp-hint', 'We will email you a 6-digit sign-in code. It works for 10 minutes.'),
      h('span.lp-input'),
      h('span.lp-btn', 'Email me a code')),
    footer);
  const update = () => {
    const bg = designColor(input('background_color').value.trim());
    const fg = designColor(input('text_color').value.trim());
    page.style.setProperty('--lp-brand-bg', bg || 'var(--bg)');
    page.style.setProperty('--lp-brand-text', fg || 'var(--text)');
    header.textContent = input('header_text').value.trim() || name.value.trim();
    footer.textContent = input('footer_text').value.trim();
    footer.hidden = !footer.textContent;
    const l = designLogo(input('logo_path').value.trim());
    logo.hidden = !l;
    logo.textContent = l ? `Logo: ${l}` : '';
    clear(contrast);
    if (bg || fg) {
      const cs = getComputedStyle(header);
      const a = luminance(cs.color), b = luminance(getComputedStyle(page).backgroundColor);
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      contrast.append(`Header and footer text on the background: contrast ${ratio.toFixed(1)}:1`,
        ratio < 4.5 ? ' (below 4.5:1: hard to read for many people; choose a darker background or a lighter text color, or the reverse)' : '.');
    }
  };
  for (const el of [name, ...design.map((x) => x.input)]) el.addEventListener('input', update);
  update();
  return h('section.login-preview', {'aria-labelledby': 'login-preview-title'},
    h('h3', {id: 'login-preview-title'}, 'Preview of the sign-in page'),
    h('p.hint', 'Updates as you type; the block and code pages share the look. Saved designs reach every edge within seconds.'),
    page, contrast);
}

/** Days for people: whole days, or hours under one. */
function daysText(days) {
  if (days < 1) return `${Math.round(days * 24)} hours`;
  const n = Math.round(days);
  return `${n} day${n === 1 ? '' : 's'}`;
}

async function keysSection(box) {
  const ro = readOnly();
  let keys;
  try { ({result: keys} = await get('/access/keys')); } catch (e) { clear(box).append(errorBox(e)); return; }
  const interval = h('input', {type: 'number', id: 'key-rotation-days', min: '21', max: '365', step: '1', value: String(keys.key_rotation_interval_days)});
  const last = h('p', {id: 'key-last-rotation'});
  const show = (k) => clear(last).append('Last rotated ', timeEl(k.last_key_rotation_at), `; the next rotation is due in ${daysText(k.days_until_next_rotation)}.`);
  show(keys);
  const err = h('div', {'aria-live': 'assertive'});
  const form = h('form', {novalidate: true, id: 'keys-form'},
    h('fieldset.plain', {disabled: ro},
      field('Rotation period (days)', interval, {field: 'key_rotation_interval_days', hint: 'From 21 to 365. The keyring is shared by the installation: it rotates at the shortest period any account asks for.'})),
    ro ? null : h('div.actions', h('button.btn.primary', {type: 'submit', id: 'save-keys'}, 'Save period')), err);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFieldErrors(form);
    clear(err);
    const n = Number(interval.value);
    try {
      const {result} = await api('PUT', '/access/keys', {key_rotation_interval_days: interval.value.trim() === '' || isNaN(n) ? interval.value : n});
      interval.value = String(result.key_rotation_interval_days);
      show(result);
      toast('Saved the rotation period');
    } catch (ex) { showFormError(form, err, ex); }
  });
  const rotate = ro ? null : h('button.btn.danger.write', {type: 'button', id: 'rotate-keys', on: {click: async () => {
    const ok = await confirmDialog('Rotate the signing key now?', [
      h('p', 'A new key signs every application token from now on, for every account on this installation. The previous key keeps verifying for 7 days, so signed-in users stay signed in.')],
    'Rotate now', true);
    if (!ok) return;
    try {
      const {result} = await api('POST', '/access/keys/rotate');
      show(result);
      toast('Rotated the signing key');
    } catch (ex) { toast(ex.message, 'error'); }
  }}}, 'Rotate now');
  clear(box).append(h('section.card', {'aria-labelledby': 'keys-title', id: 'keys'},
    h('h2', {id: 'keys-title'}, 'Signing keys'),
    h('p.hint', 'The keys that sign application tokens (Cf-Access-Jwt-Assertion), published at /cdn-cgi/access/certs.'),
    last, form, rotate ? h('div.actions', rotate) : null));
}
