// Logs → Access requests: the edge's decisions, newest first, with each
// reason in words.
import {get, getAll} from './api.js';
import {h, clear, field, select, table, badge, timeEl, errorBox, loading} from './dom.js';

// The reason codes (README "Reason codes"), for the filter.
const reasons = ['preflight_answered', 'preflight_bypassed', 'preflight_no_cors_settings', 'preflight_origin_not_allowed',
  'preflight_method_not_allowed', 'preflight_header_not_allowed', 'bypass_policy', 'service_auth_policy', 'allow_policy',
  'deny_policy', 'no_policy_matched', 'login_required', 'purpose_justification_required', 'binding_cookie_mismatch',
  'service_token_unknown', 'service_token_bad_secret',
  'service_token_expired', 'service_token_no_policy', 'service_token_malformed', 'session_invalid', 'session_expired',
  'session_wrong_audience', 'session_wrong_issuer', 'session_bad_signature', 'session_revoked',
  'bad_path', 'ambiguous_path', 'app_domain_invalid'];

const perPage = 50;

export async function render(main) {
  const apps = await getAll('/access/apps').catch(() => []);
  const app = select([['', 'All applications'], ...apps.map((a) => [a.id, `${a.name} (${a.domain})`])], '');
  const allowed = select([['', 'Any'], ['true', 'Allowed'], ['false', 'Blocked']], '');
  const reason = select([['', 'Any reason'], ...reasons.map((r) => [r, r.replaceAll('_', ' ')])], '');
  const email = h('input', {type: 'search', placeholder: 'part of an email', autocomplete: 'off'});
  const since = h('input', {type: 'datetime-local'});
  const until = h('input', {type: 'datetime-local'});
  const out = h('div', {id: 'log-list', 'aria-live': 'polite'});
  let page = 1;
  const form = h('form.filters', {novalidate: true},
    field('Application', app), field('Decision', allowed), field('Reason', reason), field('Email', email),
    field('From', since), field('To', until), h('div.actions', h('button.btn', {type: 'submit'}, 'Filter')));
  const load = async () => {
    clear(out).append(loading('Loading access requests'));
    const q = new URLSearchParams({page: String(page), per_page: String(perPage)});
    if (app.value) q.set('app_id', app.value);
    if (allowed.value) q.set('allowed', allowed.value);
    if (reason.value) q.set('reason', reason.value);
    if (email.value.trim()) q.set('email', email.value.trim());
    if (since.value) q.set('since', new Date(since.value).toISOString());
    if (until.value) q.set('until', new Date(until.value).toISOString());
    try {
      const {result} = await get(`/access/logs/access_requests?${q}`);
      clear(out).append(
        table('Access requests', ['Time', 'Application', 'Action', 'Result', 'Who', 'Reason', 'Client', 'Request', 'Ray ID'], result.map((e) => [
          h('span.nowrap', timeEl(e.created_at)), e.app_domain, e.action.replaceAll('_', ' '),
          e.allowed ? badge('allowed', 'allow') : badge('blocked', 'deny'),
          e.user_email || (e.service_token_name ? `service token ${e.service_token_name}` : h('span.muted', 'anonymous')),
          h('span', {title: e.reason}, e.reason_text || e.reason),
          [e.ip_address, e.country ? ` (${e.country})` : ''].join(''),
          e.origin ? h('span', `${e.method} from ${e.origin}`, e.request_method ? ` for ${e.request_method}` : '', e.request_headers ? ` with ${e.request_headers}` : '')
            : [e.method || '', e.upstream_status ? ` → ${e.upstream_status} in ${Math.round(e.upstream_latency_ms)} ms` : ''].join(''),
          h('code', e.ray_id),
        ]), page > 1 ? 'No older requests.' : 'No requests match.'),
        h('nav.pager', {'aria-label': 'Pages'},
          h('button.btn.small', {type: 'button', disabled: page <= 1, on: {click: () => { page--; load(); }}}, '← Newer'),
          h('span', `Page ${page}`),
          h('button.btn.small', {type: 'button', disabled: result.length < perPage, on: {click: () => { page++; load(); }}}, 'Older →')));
    } catch (e) { clear(out).append(errorBox(e)); }
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); page = 1; load(); });
  form.addEventListener('change', () => { page = 1; load(); });
  main.append(h('h1', 'Access requests'),
    h('p.lead', 'Every decision of the edges: who asked for what, what happened and why, with the ray id from the Cf-Ray header.'),
    form, out);
  load();
}
