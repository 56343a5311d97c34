// Access → Applications: the list, and one application's tabs (Overview,
// Policies, Authentication, Settings with CORS settings and the live
// preflight preview).
import {api, get, getPage, readOnly, APIError} from './api.js';
import {h, clear, field, checkbox, select, table, badge, pagedList, debounce, copyButton, confirmDialog,
  toast, errorBox, loading, showFieldErrors, showFormError, clearFieldErrors, lines} from './dom.js';
import {decisionLabel, rulesSummary, policyEditor, policyContext, policyTester} from './policies.js';
import {typeLabel} from './idps.js';

export const methods = ['GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];

/** How the edge treats CORS preflights for app: a kind, and the CLI's words. */
function corsMode(app) {
  if (app.cors_headers) return {kind: 'edge', text: 'answered at edge'};
  if (app.options_preflight_bypass) return {kind: 'bypass', text: 'bypass to origin'};
  return {kind: 'none', text: 'none — preflights get 403'};
}

export async function render(main, params) {
  if (params[0] === 'new') return editPage(main, null, 'overview');
  if (params[0] && params[1] === 'policies' && params[2]) return appPolicyPage(main, params[0], params[2]);
  if (params[0]) return editPage(main, params[0], params[1] || 'overview');
  return listPage(main);
}

function listPage(main) {
  const search = h('input', {type: 'search', id: 'app-search', placeholder: 'Name or domain', autocomplete: 'off'});
  const results = h('div', {id: 'app-list', 'aria-live': 'polite'});
  const load = pagedList(results, 'applications', (page) => getPage('/access/apps', page, {search: search.value.trim()}),
    (apps) => table('Applications', ['Name', 'Domain', 'Policies', 'CORS'], apps.map((a) => {
      const policyNames = a.policies.map((p) => p.name).join(', ');
      const cors = corsMode(a);
      return [
        h('a', {href: `#/apps/${a.id}`}, a.name),
        h('span', a.domain, a.self_hosted_domains.length > 1 ? h('span.muted', ` +${a.self_hosted_domains.length - 1}`) : null),
        a.policies.length ? h('span', {title: policyNames}, `${a.policies.length}: `, policyNames) : h('span.muted', 'none (everyone denied)'),
        h('span', {class: `cors-${cors.kind}`, dataset: {cors: cors.text}}, cors.text),
      ];
    }), search.value ? 'No application matches.' : 'No applications yet.'));
  search.addEventListener('input', debounce(() => load(), 250));
  main.append(
    h('div.page-head', h('h1', 'Applications'),
      readOnly() ? null : h('a.btn.primary.write', {href: '#/apps/new', id: 'add-app'}, 'Add an application')),
    h('p.lead', 'Each application protects a domain (and optional path) in front of an origin. The edge answers preflights from the CORS settings, asks the policies for everything else, and forwards what they allow.'),
    h('div.toolbar', field('Search applications', search)),
    results);
  load();
}

/** The body of a PUT that keeps app as it is (AppSpec has no read-only members). */
function appToSpec(app) {
  const keys = ['type', 'name', 'domain', 'self_hosted_domains', 'origin', 'session_duration', 'cors_headers',
    'options_preflight_bypass', 'allowed_idps', 'auto_redirect_to_identity', 'http_only_cookie_attribute',
    'same_site_cookie_attribute', 'path_cookie_attribute', 'enable_binding_cookie', 'service_auth_401_redirect',
    'read_service_tokens_from_header', 'custom_deny_message', 'custom_deny_url', 'custom_non_identity_deny_url',
    'app_launcher_visible', 'skip_interstitial', 'logo_url', 'tags'];
  const spec = {};
  for (const k of keys) if (app[k] !== undefined) spec[k] = app[k];
  return spec;
}

const durations = [['15m', '15 minutes'], ['30m', '30 minutes'], ['1h', '1 hour'], ['6h', '6 hours'], ['12h', '12 hours'],
  ['24h', '24 hours'], ['168h', '1 week'], ['720h', '1 month']];

const tabs = [['overview', 'Overview'], ['policies', 'Policies'], ['authentication', 'Authentication'], ['settings', 'Settings']];

async function editPage(main, id, tab) {
  main.append(loading('Loading application'));
  let app = null;
  let etag = null;
  // One read of the tokens, providers and reusable policies, for the
  // Authentication tab's providers and the Policies tab.
  const [loaded, ctx] = await Promise.all([
    id ? get(`/access/apps/${encodeURIComponent(id)}`) : null,
    policyContext(),
  ]);
  if (loaded) { app = loaded.result; etag = loaded.etag; }
  // The Policies tab saves the app too: both keep the latest ETag here.
  const state = {app, etag};
  clear(main);
  const ro = readOnly();
  const isNew = !app;
  if (isNew && ro) { main.append(errorBox('This token is read-only: it cannot create applications.')); return; }
  if (isNew && tab === 'policies') tab = 'overview';

  const title = h('h1', isNew ? 'Add an application' : app.name);
  main.append(h('p.crumbs', h('a', {href: '#/apps'}, 'Applications'), ' / '), h('div.page-head', title,
    !isNew && !ro ? h('button.btn.danger.write', {type: 'button', id: 'delete-app', on: {click: () => deleteApp(app)}}, 'Delete') : null));

  // Tabs: Overview, Authentication and Settings are sections of one form
  // saved with one PUT (the API replaces the whole app); Policies saves
  // each change on its own.
  const tabList = h('div.tabs', {role: 'tablist', 'aria-label': 'Application'});
  const panels = {};
  const buttons = {};
  const select_ = (name, focus) => {
    for (const [n] of tabs) {
      if (!buttons[n]) continue;
      const on = n === name;
      buttons[n].setAttribute('aria-selected', String(on));
      buttons[n].tabIndex = on ? 0 : -1;
      panels[n].hidden = !on;
    }
    saveBar.hidden = name === 'policies' || ro;
    if (focus) buttons[name].focus();
    if (!isNew) history.replaceState(null, '', `#/apps/${app.id}/${name}`);
    tab = name;
  };
  const names = tabs.filter(([n]) => !(isNew && n === 'policies'));
  for (const [n, label] of names) {
    const b = h('button.tab', {type: 'button', role: 'tab', id: `tab-${n}`, 'aria-controls': `panel-${n}`}, label);
    b.addEventListener('click', () => select_(n));
    b.addEventListener('keydown', (e) => {
      const i = names.findIndex(([x]) => x === n);
      if (e.key === 'ArrowRight') select_(names[(i + 1) % names.length][0], true);
      else if (e.key === 'ArrowLeft') select_(names[(i + names.length - 1) % names.length][0], true);
      else return;
      e.preventDefault();
    });
    buttons[n] = b;
    tabList.append(b);
    panels[n] = h('section.panel', {role: 'tabpanel', id: `panel-${n}`, 'aria-labelledby': `tab-${n}`, hidden: true});
  }

  const spec = app ? appToSpec(app) : {type: 'self_hosted', session_duration: '24h'};
  const form = h('form.edit', {id: 'app-form', novalidate: true});
  const formErr = h('div', {'aria-live': 'assertive'});
  const fs = h('fieldset.plain', {disabled: ro});

  // --- Overview
  const name = h('input', {type: 'text', name: 'name', value: spec.name || '', required: true, autocomplete: 'off'});
  const domains = h('textarea', {name: 'domains', rows: '2', spellcheck: 'false', value: (app ? app.self_hosted_domains : []).join('\n')});
  const origin = h('input', {type: 'url', name: 'origin', value: spec.origin || '', placeholder: 'http://127.0.0.1:3000', spellcheck: 'false'});
  const dur = select(durations.some(([v]) => v === spec.session_duration) ? durations : [...durations, [spec.session_duration, spec.session_duration]], spec.session_duration);
  dur.name = 'session_duration';
  const ust = app && app.upstream_service_token;
  const relayID = h('input', {type: 'text', name: 'relay_client_id', value: ust ? ust.client_id : '', spellcheck: 'false', autocomplete: 'off'});
  const relaySecret = h('input', {type: 'password', name: 'relay_client_secret', autocomplete: 'new-password',
    placeholder: ust && ust.client_secret_set ? 'stored — leave empty to keep it' : ''});
  panels.overview.append(
    h('h2', 'Basic information'),
    field('Application name', name, {field: 'name'}),
    field('Domains', domains, {field: 'domain self_hosted_domains destinations', hint: 'One per line: a host with an optional path, such as app.example.com or example.com/api. The first is the primary domain.'}),
    field('Origin URL', origin, {field: 'origin', hint: 'Where the edge forwards allowed requests (Gatehouse extension), such as http://127.0.0.1:3000.'}),
    field('Session duration', dur, {field: 'session_duration', hint: 'How long a user stays logged in to this application.'}),
    app ? h('div.field', h('span.label', {id: 'aud-label'}, 'Application Audience (AUD) Tag'),
      h('div.copyable', h('code', {id: 'aud-tag', 'aria-labelledby': 'aud-label'}, app.aud), copyButton(app.aud, 'AUD tag')),
      h('p.hint', 'Origins verify the Cf-Access-Jwt-Assertion against this audience.')) : null,
    h('fieldset', {dataset: {field: 'upstream_service_token'}}, h('legend', 'Relay (send a service token upstream)'),
      h('p.hint', 'Gatehouse\'s built-in version of the CORS guide\'s Worker: for each allowed request the edge drops the user\'s cookies and presents this service token to the origin, itself an Access application.'),
      field('Client ID', relayID, {field: 'upstream_service_token.client_id'}),
      field('Client Secret', relaySecret, {field: 'upstream_service_token.client_secret', hint: 'Write-only: stored encrypted, never shown again.'})),
  );

  // --- Authentication
  const idpChecks = ctx.idps.map((p) => ({id: p.id, ...checkbox(`${p.name} (${typeLabel(p.type)})`, (spec.allowed_idps || []).includes(p.id))}));
  const autoRedirect = checkbox('Instant Auth: skip the identity provider selection', spec.auto_redirect_to_identity, {field: 'auto_redirect_to_identity', hint: 'Needs exactly one selected identity provider.'});
  panels.authentication.append(
    h('h2', 'Login methods'),
    h('fieldset', {dataset: {field: 'allowed_idps'}}, h('legend', 'Identity providers offered at login'),
      idpChecks.length ? idpChecks.map((c) => c.wrap) : h('p.muted', 'No identity providers yet. ', h('a', {href: '#/idps'}, 'Add one')),
      h('p.hint', 'None selected: every identity provider of the account.'),
      h('p.field-error', {hidden: true})),
    autoRedirect.wrap);

  // --- Settings: CORS and cookies
  const cors = spec.cors_headers || {};
  const bypass = checkbox('Bypass options requests to origin', spec.options_preflight_bypass, {field: 'options_preflight_bypass', id: 'cors-bypass',
    hint: 'Preflights go to the origin unauthenticated, and the origin must answer them. Turning this on removes all existing CORS settings.'});
  const allOrigins = checkbox('Allow all origins', cors.allow_all_origins, {field: 'cors_headers.allow_all_origins', id: 'cors-allow-all-origins'});
  const originsTA = h('textarea', {id: 'cors-origins', rows: '3', spellcheck: 'false', placeholder: 'https://example.com', value: (cors.allowed_origins || []).join('\n')});
  const allMethods = checkbox('Allow all methods', cors.allow_all_methods, {field: 'cors_headers.allow_all_methods', id: 'cors-allow-all-methods'});
  const methodChecks = methods.map((m) => {
    const c = checkbox(m, (cors.allowed_methods || []).includes(m), {id: `cors-method-${m}`});
    c.input.value = m;
    return c;
  });
  const allHeaders = checkbox('Allow all headers', cors.allow_all_headers, {field: 'cors_headers.allow_all_headers', id: 'cors-allow-all-headers'});
  const headersTA = h('textarea', {id: 'cors-headers', rows: '2', spellcheck: 'false', placeholder: 'Content-Type', value: (cors.allowed_headers || []).join('\n')});
  const creds = checkbox('Allow credentials', cors.allow_credentials, {field: 'cors_headers.allow_credentials', id: 'cors-credentials',
    hint: 'Send Access-Control-Allow-Credentials: true, so pages may call with cookies. The page origin is then echoed instead of *.'});
  const maxAge = h('input', {type: 'number', id: 'cors-max-age', min: '-1', max: '86400', step: '1', value: cors.max_age ? String(cors.max_age) : ''});
  const corsFS = h('fieldset', {id: 'cors-settings'},
    h('legend', 'Preflight responses at the edge'),
    h('p.hint', 'How the edge answers preflight (OPTIONS) requests itself. Browsers send no cookies on preflights, so without these settings or the bypass every preflight gets 403.'),
    h('div.field-group', h('h3', 'Access-Control-Allow-Origin'), allOrigins.wrap,
      field('Allowed origins', originsTA, {field: 'cors_headers.allowed_origins', hint: 'One per line: scheme://host[:port], such as https://app.example.com.'})),
    h('div.field-group', h('h3', 'Access-Control-Allow-Methods'), allMethods.wrap,
      h('fieldset.methods', {dataset: {field: 'cors_headers.allowed_methods'}}, h('legend', 'Allowed methods'),
        h('div.check-row', methodChecks.map((c) => c.wrap)), h('p.hint', 'GET, HEAD and POST are always accepted, as browsers accept them.'), h('p.field-error', {hidden: true}))),
    h('div.field-group', h('h3', 'Access-Control-Allow-Headers'), allHeaders.wrap,
      field('Allowed headers', headersTA, {field: 'cors_headers.allowed_headers', hint: 'One per line, such as Content-Type or X-Custom.'})),
    h('div.field-group', h('h3', 'Access-Control-Allow-Credentials'), creds.wrap),
    h('div.field-group', h('h3', 'Access-Control-Max-Age'),
      field('Max age (seconds)', maxAge, {field: 'cors_headers.max_age', hint: 'How long browsers may cache the answer, up to 86400 (Chromium caps it at 7200); -1 disables caching; empty: not sent.'})));
  const syncCORS = () => {
    const off = bypass.input.checked;
    for (const c of corsFS.querySelectorAll('input, textarea')) c.disabled = off || ro;
    if (!off && !ro) {
      originsTA.disabled = allOrigins.input.checked;
      headersTA.disabled = allHeaders.input.checked;
      for (const c of methodChecks) c.input.disabled = allMethods.input.checked;
    }
    corsFS.classList.toggle('off', off);
  };
  for (const c of [allOrigins, allMethods, allHeaders]) c.input.addEventListener('change', syncCORS);
  const corsSet = () => allOrigins.input.checked || allMethods.input.checked || allHeaders.input.checked || creds.input.checked ||
    lines(originsTA.value).length || lines(headersTA.value).length || methodChecks.some((c) => c.input.checked) || maxAge.value.trim() !== '';
  bypass.input.addEventListener('change', async () => {
    if (bypass.input.checked && corsSet()) {
      const ok = await confirmDialog('Bypass options requests to origin?',
        [h('p', 'Turning on the bypass removes all existing CORS settings of this application: the origin answers preflights from now on, unauthenticated.'),
          h('p', 'The settings are removed when you save.')],
        'Remove CORS settings', true);
      if (!ok) { bypass.input.checked = false; syncCORS(); return; }
      allOrigins.input.checked = allMethods.input.checked = allHeaders.input.checked = creds.input.checked = false;
      originsTA.value = headersTA.value = maxAge.value = '';
      for (const c of methodChecks) c.input.checked = false;
    }
    syncCORS();
    // Only now, after the confirmation: the preview never shows the
    // half-way state of the bypass on with the settings still there.
    if (pv) pv.refresh();
  });
  // The CORS settings as the form has them, in an app body's members: the
  // Save button sends them, the preview tests them as a draft.
  const corsFromForm = () => {
    if (bypass.input.checked) return {options_preflight_bypass: true};
    const ma = maxAge.value.trim();
    return {
      options_preflight_bypass: false,
      cors_headers: {
        allow_all_origins: allOrigins.input.checked,
        allowed_origins: allOrigins.input.checked ? [] : lines(originsTA.value),
        allow_all_methods: allMethods.input.checked,
        allowed_methods: allMethods.input.checked ? [] : methodChecks.filter((c) => c.input.checked).map((c) => c.input.value),
        allow_all_headers: allHeaders.input.checked,
        allowed_headers: allHeaders.input.checked ? [] : lines(headersTA.value),
        allow_credentials: creds.input.checked,
        max_age: ma === '' ? 0 : Number(ma),
      },
    };
  };
  const corsBox = h('div', {id: 'cors-box'}, h('h2', 'CORS settings'), bypass.wrap, corsFS);
  const pv = app ? preview(app, {draft: corsFromForm, box: corsBox, watch: corsFS}) : null;

  const sameSite = select([['', 'not set'], ['strict', 'Strict'], ['lax', 'Lax'], ['none', 'None (cookies on cross-site requests; needs HTTPS)']], spec.same_site_cookie_attribute || '');
  const httpOnly = checkbox('HTTP Only', spec.http_only_cookie_attribute !== false, {field: 'http_only_cookie_attribute', hint: 'Scripts on the page cannot read the CF_Authorization cookie.'});
  const binding = checkbox('Enable Binding Cookie', spec.enable_binding_cookie, {field: 'enable_binding_cookie'});
  const pathCookie = checkbox('Path cookie attribute', spec.path_cookie_attribute, {field: 'path_cookie_attribute', hint: 'Scope the cookie to the application\'s path.'});
  const svc401 = checkbox('Return 401 response for Service Auth policies', spec.service_auth_401_redirect, {field: 'service_auth_401_redirect'});
  const tokenHeader = h('input', {type: 'text', value: spec.read_service_tokens_from_header || '', spellcheck: 'false', placeholder: 'Authorization'});
  panels.settings.append(
    h('div.settings-grid',
      corsBox,
      pv ? pv.el : h('aside.preview', h('h2', 'Preflight preview'), h('p.muted', 'Save the application to preview the edge\'s answers.'))),
    h('fieldset', h('legend', 'Cookie settings'),
      field('Same Site attribute', sameSite, {field: 'same_site_cookie_attribute'}), httpOnly.wrap, binding.wrap, pathCookie.wrap),
    h('fieldset', h('legend', 'Service Auth'), svc401.wrap,
      field('Read service tokens from header', tokenHeader, {field: 'read_service_tokens_from_header', hint: 'Optional: one header holding {"cf-access-client-id": …, "cf-access-client-secret": …}.'})));
  syncCORS();

  // --- Policies (its own saves)
  if (!isNew) policiesTab(panels.policies, state, ctx);

  const saveBtn = h('button.btn.primary.write', {type: 'submit', id: 'save-app'}, isNew ? 'Add application' : 'Save');
  const saveBar = h('div.actions.savebar', ro ? null : saveBtn, ro ? null : h('a.btn', {href: '#/apps'}, 'Cancel'));
  fs.append(panels.overview, panels.authentication, panels.settings);
  form.append(formErr, fs, saveBar);
  form.addEventListener('fielderror', (e) => {
    for (const [n] of names) if (panels[n].contains(e.detail)) select_(n);
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (ro) return;
    clearFieldErrors(form);
    clear(formErr);
    const body = {...spec};
    body.name = name.value.trim();
    const ds = lines(domains.value);
    body.self_hosted_domains = ds;
    if (ds.length) body.domain = ds[0]; else delete body.domain;
    body.origin = origin.value.trim();
    body.session_duration = dur.value;
    body.allowed_idps = idpChecks.filter((c) => c.input.checked).map((c) => c.id);
    body.auto_redirect_to_identity = autoRedirect.input.checked;
    delete body.cors_headers;
    Object.assign(body, corsFromForm());
    if (sameSite.value) body.same_site_cookie_attribute = sameSite.value; else delete body.same_site_cookie_attribute;
    body.http_only_cookie_attribute = httpOnly.input.checked;
    body.enable_binding_cookie = binding.input.checked;
    body.path_cookie_attribute = pathCookie.input.checked;
    body.service_auth_401_redirect = svc401.input.checked;
    if (tokenHeader.value.trim()) body.read_service_tokens_from_header = tokenHeader.value.trim(); else delete body.read_service_tokens_from_header;
    const rid = relayID.value.trim();
    if (rid) {
      body.upstream_service_token = {client_id: rid};
      if (relaySecret.value) body.upstream_service_token.client_secret = relaySecret.value;
    } else if (ust) {
      body.upstream_service_token = null;
    }
    saveBtn.disabled = true;
    try {
      const r = isNew ? await api('POST', '/access/apps', body) : await api('PUT', `/access/apps/${app.id}`, body, {ifMatch: state.etag});
      toast(isNew ? `Added ${r.result.name}` : 'Saved');
      const target = `#/apps/${r.result.id}/${tab}`;
      if (location.hash === target) { clear(main); await editPage(main, r.result.id, tab); } else location.hash = target;
    } catch (ex) {
      saveBtn.disabled = false;
      if (ex.status === 412) {
        formErr.append(h('div.alert.error', {role: 'alert'}, 'Someone else changed this application since you opened it. ',
          h('a', {href: `#/apps/${app.id}/${tab}`, on: {click: (ev) => { ev.preventDefault(); clear(main); editPage(main, app.id, tab); }}}, 'Reload it'), ' and make your change again.'));
        return;
      }
      showFormError(form, formErr, ex);
    }
  });

  main.append(tabList, form);
  if (!isNew) main.append(panels.policies);
  select_(names.some(([n]) => n === tab) ? tab : 'overview');
}

async function deleteApp(app) {
  const ok = await confirmDialog(`Delete ${app.name}?`,
    h('p', `The edge stops protecting ${app.domain} at once: requests for it get 404. Its own policies are deleted; reusable ones stay.`), 'Delete application', true);
  if (!ok) return;
  try {
    await api('DELETE', `/access/apps/${app.id}`);
    toast(`Deleted ${app.name}`);
    location.hash = '#/apps';
  } catch (e) { toast(e.message, 'error'); }
}

/**
 * The live preflight preview: what the edge answers for the CORS settings
 * as edited (settings.draft(), sent to the policy tester as a draft), so
 * far unsaved or not. It re-runs as the preview's form or settings.watch
 * changes; the settings' field errors show in settings.box. Returns the
 * element and refresh(), for changes made without an input event.
 */
function preview(app, settings) {
  const cors = app.cors_headers || {};
  const originIn = h('input', {type: 'text', id: 'preview-origin', spellcheck: 'false', value: (cors.allowed_origins || [])[0] || 'https://example.com'});
  const method = select(methods, (cors.allowed_methods || []).find((m) => !['GET', 'HEAD', 'POST'].includes(m)) || 'PUT');
  method.id = 'preview-method';
  const hdrs = h('input', {type: 'text', id: 'preview-request-headers', spellcheck: 'false', value: (cors.allowed_headers || [])[0] || 'Content-Type'});
  const out = h('div', {id: 'preview-result', 'aria-live': 'polite'});
  const unsaved = h('p.draft-note', {id: 'preview-draft', hidden: true},
    badge('Unsaved settings', 'warn'), h('span.muted', ' the edge answers so once you save them'));
  const form = h('form', {novalidate: true, id: 'preview-form'},
    field('Page origin', originIn, {field: 'origin'}),
    field('Request method', method, {field: 'method'}),
    field('Request headers', hdrs, {field: 'request_headers', hint: 'Comma separated, as in Access-Control-Request-Headers.'}));
  // The form opens on the saved settings: a draft that differs is unsaved.
  const saved = JSON.stringify(settings.draft());
  const request = (draft) => ({app_id: app.id, origin: originIn.value.trim(), method: method.value,
    request_headers: lines(hdrs.value), ...draft});
  let seq = 0;
  let ctl = null;
  const run = async () => {
    // The key of the request as sent: an answer is shown only while the
    // form still asks exactly this, whatever arrives in between.
    const draft = settings.draft();
    const body = request(draft);
    const key = JSON.stringify(body);
    const n = ++seq;
    if (ctl) ctl.abort();
    ctl = new AbortController();
    let show;
    try {
      const {result} = await api('POST', '/gatehouse/policy_test', body, {signal: ctl.signal});
      show = () => {
        clearFieldErrors(form);
        clearFieldErrors(settings.box);
        clear(out).append(previewResult(result.preflight));
      };
    } catch (e) {
      if (e.name === 'AbortError') return;
      show = () => {
        if (!(e instanceof APIError) || !e.errors.length) { clear(out).append(errorBox(e)); return; }
        // Live checks leave the focus where the user types.
        const notSettings = showFieldErrors(settings.box, e.errors, {focus: false});
        const rest = showFieldErrors(form, notSettings, {focus: false});
        clear(out).append(rest.length ? errorBox(rest.map((x) => x.message).join('; '))
          : h('p.muted', {id: 'preview-fix'}, notSettings.length < e.errors.length ? 'Fix the settings to see the answer.' : 'Fix the request to see the answer.'));
      };
    }
    if (n !== seq) return;
    if (key !== JSON.stringify(request(settings.draft()))) {
      // The form changed without an event (or its run is still waiting):
      // this answer is stale, ask again.
      kick();
      return;
    }
    show();
    unsaved.hidden = JSON.stringify(draft) === saved;
    out.dataset.request = key;
    out.dataset.state = 'current';
    out.removeAttribute('aria-busy');
  };
  const later = debounce(run, 200);
  // Marked at once, so nothing reads an answer to an earlier request as
  // the current one while the next run waits.
  const kick = () => {
    out.dataset.state = 'pending';
    out.setAttribute('aria-busy', 'true');
    later();
  };
  for (const el of [form, settings.watch]) {
    el.addEventListener('input', kick);
    el.addEventListener('change', kick);
  }
  form.addEventListener('submit', (e) => { e.preventDefault(); kick(); });
  kick();
  const el = h('aside.preview', {'aria-labelledby': 'preview-title'},
    h('h2', {id: 'preview-title'}, 'Preflight preview'),
    h('p.hint', 'What the edge answers to a browser\'s OPTIONS preflight for the CORS settings as edited, saved or not, computed by the edge\'s own engine.'),
    form, unsaved, out);
  return {el, refresh: kick};
}

function previewResult(p) {
  if (!p) return h('p.muted', 'Give a page origin and a method.');
  const statusText = p.status === 204 ? '204 No Content' : p.status === 403 ? '403 Forbidden' : 'Forwarded to the origin';
  const kind = p.outcome === 'refused' ? 'error' : p.outcome === 'forwarded' ? 'info' : (Object.keys(p.headers || {}).some((k) => k.toLowerCase() === 'access-control-allow-origin') ? 'ok' : 'warn');
  const names = Object.keys(p.headers || {}).sort();
  return h('div.preview-out',
    h('p', h('span.status.' + kind, {id: 'preview-status', dataset: {status: String(p.status), outcome: p.outcome}}, statusText)),
    h('p', {id: 'preview-reason'}, p.reason_text),
    names.length ? h('table.headers', h('caption', 'Response headers'),
      h('tbody', names.map((k) => h('tr', {dataset: {header: k, value: p.headers[k]}}, h('th', {scope: 'row'}, k), h('td', h('code', p.headers[k]))))))
      : h('p.muted', p.outcome === 'forwarded' ? 'The origin\'s own response reaches the browser.' : 'No Access-Control-* headers: the browser blocks the request.'));
}

/** The Policies tab: the app's policies in precedence order, and the tester. */
function policiesTab(panel, state, ctx) {
  const ro = readOnly();
  let {app, etag} = state;
  const keep = (r) => { app = state.app = r.result; etag = state.etag = r.etag; };
  const list = h('div', {id: 'app-policies'});
  const draw = () => {
    clear(list);
    const ps = app.policies;
    const move = async (i, d) => {
      const order = ps.map((p) => p.id);
      [order[i], order[i + d]] = [order[i + d], order[i]];
      try {
        const r = await api('PUT', `/access/apps/${app.id}`, {...appToSpec(app), policies: order.map((id, k) => ({id, precedence: k + 1}))}, {ifMatch: etag});
        keep(r);
        draw();
        list.querySelector(`[data-policy="${order[i + d]}"] .move-${d < 0 ? 'up' : 'down'}`)?.focus();
      } catch (e) { toast(e.message, 'error'); }
    };
    const rows = ps.map((p, i) => h('tr', {dataset: {policy: p.id}},
      h('td', String(p.precedence)),
      h('td', p.reusable ? h('a', {href: `#/policies/${p.id}`}, p.name) : h('a', {href: `#/apps/${app.id}/policies/${p.id}`}, p.name),
        p.reusable ? h('span.muted', ' (reusable)') : null),
      h('td', badge(decisionLabel(p.decision), p.decision)),
      h('td', rulesSummary(p, ctx)),
      ro ? null : h('td.nowrap',
        h('button.btn.small.write.move-up', {type: 'button', disabled: i === 0, 'aria-label': `Move ${p.name} up`, on: {click: () => move(i, -1)}}, '↑'),
        h('button.btn.small.write.move-down', {type: 'button', disabled: i === ps.length - 1, 'aria-label': `Move ${p.name} down`, on: {click: () => move(i, 1)}}, '↓'),
        h('button.btn.small.danger.write', {type: 'button', on: {click: async () => {
          const ok = await confirmDialog(p.reusable ? `Remove ${p.name} from ${app.name}?` : `Delete ${p.name}?`,
            h('p', p.reusable ? 'The reusable policy stays; this application stops enforcing it.' : 'This policy belongs to this application only and is deleted.'), p.reusable ? 'Remove' : 'Delete', true);
          if (!ok) return;
          try {
            await api('DELETE', `/access/apps/${app.id}/policies/${p.id}`);
            const r = await get(`/access/apps/${app.id}`);
            keep(r); draw();
          } catch (e) { toast(e.message, 'error'); }
        }}}, p.reusable ? 'Remove' : 'Delete'))));
    list.append(ps.length ? table('Policies', ['Order', 'Name', 'Action', 'Rules', ro ? null : 'Change'].filter(Boolean), rows)
      : h('p.empty', 'No policies: the edge denies everyone (preflights still follow the CORS settings).'));
    if (!ro) {
      const linkable = ctx.reusable.filter((p) => !ps.some((x) => x.id === p.id));
      const pick = select(linkable.map((p) => [p.id, `${p.name} (${decisionLabel(p.decision)})`]));
      const add = h('div.inline-form.write',
        linkable.length ? [field('Reusable policy', pick), h('button.btn', {type: 'button', on: {click: async () => {
          try {
            const r = await api('PUT', `/access/apps/${app.id}`, {...appToSpec(app), policies: [...ps.map((p) => p.id), pick.value]}, {ifMatch: etag});
            keep(r); draw();
          } catch (e) { toast(e.message, 'error'); }
        }}}, 'Add reusable policy')] : null,
        h('button.btn.primary', {type: 'button', id: 'add-app-policy', on: {click: () => {
          clear(editor);
          policyEditor(editor, {ctx, url: `/access/apps/${app.id}/policies`, method: 'POST', onCancel: () => clear(editor),
            onSaved: async () => { clear(editor); const r = await get(`/access/apps/${app.id}`); keep(r); draw(); }});
        }}}, 'Create a policy for this application'));
      list.append(add);
    }
  };
  const editor = h('div');
  draw();
  panel.append(h('h2', 'Policies'),
    h('p.hint', 'Bypass policies are evaluated first, then Service Auth, then Allow and Deny in this order. The first match decides; no match denies.'),
    list, editor, policyTester(app, ctx));
}

async function appPolicyPage(main, appID, policyID) {
  const [{result: app}, {result: p}, ctx] = await Promise.all([get(`/access/apps/${appID}`), get(`/access/apps/${appID}/policies/${policyID}`), policyContext()]);
  main.append(h('p.crumbs', h('a', {href: '#/apps'}, 'Applications'), ' / ', h('a', {href: `#/apps/${app.id}/policies`}, app.name), ' / '),
    h('h1', p.name));
  const box = h('div');
  main.append(box);
  policyEditor(box, {ctx, policy: p, url: `/access/apps/${app.id}/policies/${p.id}`, method: 'PUT',
    onCancel: () => { location.hash = `#/apps/${app.id}/policies`; }, onSaved: () => { location.hash = `#/apps/${app.id}/policies`; }});
}

