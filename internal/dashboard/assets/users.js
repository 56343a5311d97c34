// Access → Users: the people who signed in to the account's applications,
// as the access log remembers them (Gatehouse keeps no user directory),
// and for one user the active sessions, failed logins and last seen
// identity. Read-only: revoking a user's sessions is
// POST /access/organizations/revoke_user or gatehouse's CLI.
import {get, getAll, getPage} from './api.js';
import {h, clear, table, timeEl, badge, errorBox, loading, pagedList} from './dom.js';
import {typeLabel} from './idps.js';

export async function render(main, params) {
  if (params[0]) return userPage(main, params[0]);
  const out = h('div', {id: 'user-list', 'aria-live': 'polite'});
  main.append(h('h1', 'Users'),
    h('p.lead', 'Everyone who signed in to an application, from the access log: a user appears with their first logged sign-in and goes when retention drops their last one.'),
    out);
  const show = pagedList(out, 'users', (page) => getPage('/access/users', page), (users) =>
    table('Users', ['Email', 'Last successful login', 'First seen', 'Access'], users.map((u) => h('tr', {dataset: {user: u.id, email: u.email}},
      h('td', h('a', {href: `#/users/${encodeURIComponent(u.id)}`}, u.email)),
      h('td', timeEl(u.last_successful_login)),
      h('td', timeEl(u.created_at)),
      h('td', u.access_seat ? badge('signed in', 'allow') : badge('never allowed', 'deny')),
    )), 'No one has signed in yet.'));
  await show(1);
}

/** Unix seconds as RFC 3339, for timeEl. */
const unix = (s) => (s ? new Date(s * 1000).toISOString() : null);

async function userPage(main, id) {
  const path = `/access/users/${encodeURIComponent(id)}`;
  const {result: u} = await get(path);
  const identityBox = h('div', {id: 'user-identity'}, loading('Loading the last seen identity'));
  const sessionsBox = h('div', {id: 'user-sessions'}, loading('Loading active sessions'));
  const failedBox = h('div', {id: 'user-failed'}, loading('Loading failed logins'));
  main.append(h('p.crumbs', h('a', {href: '#/users'}, 'Users'), ' / '),
    h('div.page-head', h('h1', u.email)),
    h('p.lead', 'First seen ', timeEl(u.created_at), ' · last successful login ', timeEl(u.last_successful_login)),
    h('section.card', {'aria-labelledby': 'identity-title'}, h('h2', {id: 'identity-title'}, 'Last seen identity'), identityBox),
    h('section', {'aria-labelledby': 'sessions-title'}, h('h2', {id: 'sessions-title'}, 'Active sessions'),
      h('p.hint', 'Allowed sign-ins whose login session can still be live: within the organization\'s session duration and after the user\'s last revocation.'), sessionsBox),
    h('section', {'aria-labelledby': 'failed-title'}, h('h2', {id: 'failed-title'}, 'Failed logins'), failedBox));
  const idps = new Map();
  try { for (const p of await getAll('/access/identity_providers')) idps.set(p.id, p); } catch { /* ids then, not names */ }
  const idpName = (idp) => {
    if (!idp || !idp.id) return h('span.muted', '—');
    const p = idps.get(idp.id);
    return p ? `${p.name} (${typeLabel(p.type)})` : idp.id;
  };
  await Promise.all([
    get(`${path}/last_seen_identity`).then(({result: s}) => {
      clear(identityBox).append(h('dl.facts',
        h('dt', 'Signed in'), h('dd', timeEl(unix(s.iat))),
        h('dt', 'IP address'), h('dd', s.ip || h('span.muted', '—')),
        h('dt', 'Country'), h('dd', (s.geo && s.geo.country) || h('span.muted', '—')),
        h('dt', 'Identity provider'), h('dd', idpName(s.idp))));
    }).catch((e) => clear(identityBox).append(e.status === 404 ? h('p.empty', 'No identity seen.') : errorBox(e))),
    get(`${path}/active_sessions`).then(({result}) => {
      clear(sessionsBox).append(table('Active sessions', ['Signed in', 'Expires', 'Applications', 'Session (ray id)'], result.map((s) => [
        timeEl(unix(s.metadata.iat)), timeEl(unix(s.expiration)),
        Object.values(s.metadata.apps || {}).map((a) => a.name && a.name !== a.hostname ? `${a.name} (${a.hostname})` : a.hostname).join(', ') || h('span.muted', '—'),
        h('code', s.metadata.nonce),
      ]), 'No active sessions.'));
    }).catch((e) => clear(sessionsBox).append(errorBox(e))),
    get(`${path}/failed_logins`).then(({result}) => {
      clear(failedBox).append(table('Failed logins', ['Time', 'Application', 'Reason', 'Client', 'Ray ID'], result.map((f) => {
        const e = f.metadata || {};
        return [timeEl(e.created_at || unix(f.expiration)), e.app_domain || h('span.muted', '—'),
          h('span', {title: e.reason}, e.reason_text || e.reason),
          [e.ip_address, e.country ? ` (${e.country})` : ''].join(''), h('code', e.ray_id)];
      }), 'No failed logins.'));
    }).catch((e) => clear(failedBox).append(errorBox(e))),
  ]);
}
