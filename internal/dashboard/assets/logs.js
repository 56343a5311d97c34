// Logs → Access requests: the edge's decisions, newest first, with each
// reason in words.
import {get, getAll} from './api.js';
import {h, clear, field, select, table, badge, errorBox, loading} from './dom.js';

// The reason codes (README "Reason codes"), for the filter.
const reasons = ['preflight_answered', 'preflight_bypassed', 'preflight_no_cors_settings', 'preflight_origin_not_allowed',
  'preflight_method_not_allowed', 'preflight_header_not_allowed', 'bypass_policy', 'service_auth_policy', 'allow_policy',
  'deny_policy', 'no_policy_matched', 'login_required', 'purpose_justification_required', 'binding_cookie_mismatch',
  'service_token_unknown', 'service_token_bad_secret',
  'service_token_expired', 'service_token_no_policy', 'service_token_malformed', 'session_invalid', 'session_expired',
  'session_wrong_audience', 'session_wrong_issuer', 'session_bad_signature', 'session_revoked',
  'bad_path', 'ambiguous_path', 'app_domain_invalid'];

const perPage = 50;

const actions = ['allow', 'deny', 'login', 'relay', 'preflight_answered', 'preflight_bypassed', 'preflight_refused'];

// localInput formats an RFC 3339 time for a datetime-local input.
function localInput(ts) {
  const d = new Date(ts);
  if (isNaN(d)) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

// shortTime is a compact local time: the date only when not today.
function shortTime(ts) {
  const d = new Date(ts);
  const today = new Date().toDateString() === d.toDateString();
  const t = d.toLocaleTimeString(undefined, {hour: '2-digit', minute: '2-digit', second: '2-digit'});
  return today ? t : `${d.toLocaleDateString(undefined, {month: 'short', day: 'numeric'})} ${t}`;
}

// cell is one line of text, cut with an ellipsis when too long; the
// whole text stays in its tooltip.
function cell(text, title) {
  return h('span.cell', {title: title || text}, text);
}

// The filters come from the page's address (#/logs?allowed=false&…), as
// the overview's links set them, and go back into it.
export async function render(main, _params, query = new URLSearchParams()) {
  const apps = await getAll('/access/apps').catch(() => []);
  const appID = query.get('app_id') || '';
  const appOptions = apps.map((a) => [a.id, `${a.name} (${a.domain})`]);
  if (appID && !apps.some((a) => a.id === appID)) appOptions.push([appID, `application ${appID}`]);
  const app = select([['', 'All applications'], ...appOptions], appID);
  const allowed = select([['', 'Any'], ['true', 'Allowed'], ['false', 'Blocked']], query.get('allowed') || '');
  const reason = select([['', 'Any reason'], ...reasons.map((r) => [r, r.replaceAll('_', ' ')])], query.get('reason') || '');
  const action = select([['', 'Any action'], ...actions.map((r) => [r, r.replaceAll('_', ' ')])], query.get('action') || '');
  const email = h('input', {type: 'search', placeholder: 'part of an email', autocomplete: 'off', value: query.get('email') || ''});
  const since = h('input', {type: 'datetime-local', step: '1', value: query.get('since') ? localInput(query.get('since')) : ''});
  const until = h('input', {type: 'datetime-local', step: '1', value: query.get('until') ? localInput(query.get('until')) : ''});
  // Set only by a link (the overview's identities); cleared by editing the email.
  let emailExact = query.get('email_exact') === 'true';
  let tokenID = query.get('service_token_id') || '';
  const tokenNote = h('p.hint', {id: 'log-token-filter', hidden: !tokenID},
    `Only requests with service token ${tokenID} `,
    h('button.btn.small', {type: 'button', on: {click: () => { tokenID = ''; tokenNote.hidden = true; page = 1; load(); }}}, 'Show all'));
  email.addEventListener('input', () => { emailExact = false; });
  const out = h('div', {id: 'log-list', 'aria-live': 'polite'});
  let page = 1;
  const form = h('form.filters', {novalidate: true},
    field('Application', app), field('Decision', allowed), field('Reason', reason), field('Action', action), field('Email', email),
    field('From', since), field('To', until), h('div.actions', h('button.btn', {type: 'submit'}, 'Filter')));
  // Only the latest load may draw: an earlier, slower answer never
  // replaces the one asked for last.
  let latest = 0;
  const load = async () => {
    const seq = ++latest;
    clear(out).append(loading('Loading access requests'));
    const f = new URLSearchParams();
    if (app.value) f.set('app_id', app.value);
    if (allowed.value) f.set('allowed', allowed.value);
    if (reason.value) f.set('reason', reason.value);
    if (action.value) f.set('action', action.value);
    if (email.value.trim()) f.set('email', email.value.trim());
    if (email.value.trim() && emailExact) f.set('email_exact', 'true');
    if (tokenID) f.set('service_token_id', tokenID);
    // The times in the address stay as given when untouched.
    const time = (input, name) => {
      if (!input.value) return;
      const given = query.get(name);
      const t = new Date(input.value);
      f.set(name, given && Math.floor(new Date(given) / 1000) === Math.floor(t / 1000) ? given : t.toISOString().replace('.000Z', 'Z'));
    };
    time(since, 'since');
    time(until, 'until');
    history.replaceState(null, '', f.size ? `#/logs?${f}` : '#/logs');
    const q = new URLSearchParams({page: String(page), per_page: String(perPage)});
    for (const [k, v] of f) q.set(k, v);
    try {
      const {result} = await get(`/access/logs/access_requests?${q}`);
      if (seq !== latest) return;
      clear(out).append(
        table('Access requests', ['Time', 'Result', 'Application', 'Request', 'Who', 'Reason', 'Client', 'Ray ID'], result.map((e) => h('tr', {dataset: {ray: e.ray_id}},
          h('td', h('time', {datetime: e.created_at, title: e.created_at}, shortTime(e.created_at))),
          h('td', e.allowed ? badge('allowed', 'allow') : badge('blocked', 'deny'), ' ', cell(e.action.replaceAll('_', ' '))),
          h('td', cell(e.app_domain)),
          h('td', e.origin
            ? cell(`${e.method} ${e.path || ''} from ${e.origin}${e.request_method ? ` for ${e.request_method}` : ''}${e.request_headers ? ` with ${e.request_headers}` : ''}`)
            : cell(`${e.method || ''} ${e.path || ''}${e.upstream_status ? ` → ${e.upstream_status} in ${Math.round(e.upstream_latency_ms)} ms` : ''}`)),
          h('td', e.user_email ? cell(e.user_email) : e.service_token_name ? cell(`service token ${e.service_token_name}`) : h('span.muted', 'anonymous')),
          h('td', h('span.cell', {title: e.reason_text || e.reason}, e.reason.replaceAll('_', ' '),
            e.reason_text ? h('span.visually-hidden', `: ${e.reason_text}`) : null)),
          h('td', cell([e.ip_address, e.country ? ` (${e.country})` : ''].join(''))),
          h('td', h('code', e.ray_id)),
        )), page > 1 ? 'No older requests.' : 'No requests match.'),
        h('nav.pager', {'aria-label': 'Pages'},
          h('button.btn.small', {type: 'button', disabled: page <= 1, on: {click: () => { page--; load(); }}}, '← Newer'),
          h('span', `Page ${page}`),
          h('button.btn.small', {type: 'button', disabled: result.length < perPage, on: {click: () => { page++; load(); }}}, 'Older →')));
      const t = out.querySelector('table');
      if (t) t.classList.add('log-table');
    } catch (e) { if (seq === latest) clear(out).append(errorBox(e)); }
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); page = 1; load(); });
  form.addEventListener('change', () => { page = 1; load(); });
  main.append(h('h1', 'Access requests'),
    h('p.lead', 'Every decision of the edges: who asked for what, what happened and why, with the ray id from the Cf-Ray header. ',
      h('a', {href: '#/overview'}, 'Traffic overview')),
    form, tokenNote, out);
  load();
}
