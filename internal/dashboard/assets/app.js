// The dashboard shell: sign-in, the side navigation and the hash router.
// Each page is a module whose render(main, params) fills the main area.
import {currentSession, resume, signIn, signOut, api} from './api.js';
import {h, clear, field, errorBox, toast} from './dom.js';
import * as apps from './apps.js';
import * as policies from './policies.js';
import * as tokens from './tokens.js';
import * as relays from './relays.js';
import * as idps from './idps.js';
import * as accessGroups from './groups.js';
import * as certificates from './certificates.js';
import * as users from './users.js';
import * as organization from './organization.js';
import * as logs from './logs.js';
import * as overview from './overview.js';
import * as audit from './audit.js';
import * as edges from './edges.js';

const root = document.getElementById('root');

// The side navigation, in the order of Cloudflare's Zero Trust console.
const nav = [
  {section: 'Access'},
  {path: 'apps', label: 'Applications', page: apps},
  {path: 'policies', label: 'Policies', page: policies},
  {path: 'service-tokens', label: 'Service tokens', page: tokens},
  {path: 'relays', label: 'Relays', page: relays},
  {path: 'groups', label: 'Access groups', page: accessGroups},
  {path: 'certificates', label: 'Mutual TLS certificates', page: certificates},
  {path: 'idps', label: 'Identity providers', page: idps},
  {path: 'users', label: 'Users', page: users},
  {path: 'organization', label: 'Organization', page: organization},
  {section: 'Logs'},
  {path: 'overview', label: 'Traffic overview', page: overview},
  {path: 'logs', label: 'Access requests', page: logs},
  {path: 'audit', label: 'Audit log', page: audit},
  {section: 'Gatehouse'},
  {path: 'edges', label: 'Edges', page: edges},
];

// A page's filters ride after a '?' (#/logs?allowed=false&reason=…).
function parseHash() {
  const [path, query = ''] = location.hash.replace(/^#\/?/, '').split(/\?(.*)/s);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return {name: parts[0] || 'apps', params: parts.slice(1), query: new URLSearchParams(query)};
}

let main = null;
let navLinks = [];

function shell(s) {
  clear(root);
  root.className = 'shell';
  // One list per section, named by its heading: a list holds only items.
  const links = [];
  const groups = [];
  let list = null;
  for (const item of nav) {
    if (item.section) {
      const id = `nav-${item.section.toLowerCase()}`;
      list = h('ul', {'aria-labelledby': id});
      groups.push(h('div.nav-section', {id}, item.section), list);
      continue;
    }
    const a = h('a', {href: `#/${item.path}`, dataset: {path: item.path}}, item.label);
    links.push(a);
    list.appendChild(h('li', a));
  }
  navLinks = links;
  const signOutBtn = h('button.btn.small', {type: 'button', id: 'sign-out'}, 'Sign out');
  signOutBtn.addEventListener('click', async () => {
    try { await signOut(); } catch (e) { toast(e.message, 'error'); }
    location.hash = '#/apps';
    showSignIn();
  });
  const menu = h('button.btn.small.menu-toggle', {type: 'button', 'aria-expanded': 'false', 'aria-controls': 'sidenav'}, 'Menu');
  const side = h('nav.sidenav', {id: 'sidenav', 'aria-label': 'Main'}, groups);
  menu.addEventListener('click', () => {
    const open = side.classList.toggle('open');
    menu.setAttribute('aria-expanded', String(open));
  });
  side.addEventListener('click', (e) => { if (e.target.tagName === 'A') { side.classList.remove('open'); menu.setAttribute('aria-expanded', 'false'); } });
  main = h('main', {id: 'main', tabindex: '-1'});
  root.append(
    h('header.topbar',
      menu,
      h('a.brand', {href: '#/apps'}, h('img', {src: 'favicon.svg', alt: '', width: '24', height: '24'}), 'Gatehouse'),
      h('div.who',
        accountName(s),
        h('span', {id: 'token-name'}, `token ${s.token_name}`),
        s.read_only ? h('span.badge.warn', {id: 'read-only-badge'}, 'read-only') : null,
        signOutBtn)),
    side,
    main);
}

// accountName shows the account's name from GET /accounts/{id}, with the
// shortened id until it arrives (or if it cannot be read) and the full
// id in the tooltip.
function accountName(s) {
  const el = h('span', {id: 'account-name', title: `account ${s.account_id}`}, `Account ${s.account_id.slice(0, 8)}…`);
  api('GET', '').then(({result}) => {
    el.textContent = result.name;
    el.dataset.loaded = 'true';
  }).catch(() => {});
  return el;
}

async function route() {
  const s = currentSession();
  if (!s) return;
  const {name, params, query} = parseHash();
  const item = nav.find((n) => n.path === name);
  for (const a of navLinks) {
    if (a.dataset.path === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  // Each render gets a container of its own: a page still loading when
  // the route changes goes on drawing into its detached container, never
  // over the page that replaced it.
  const page = h('div.page');
  clear(main).append(page);
  if (!item) {
    page.append(h('h1', 'Not found'), h('p', 'No such page. '), h('a', {href: '#/apps'}, 'Go to Applications'));
    return;
  }
  document.title = `${item.label} · Gatehouse`;
  try {
    await item.page.render(page, params, query);
  } catch (e) {
    page.append(errorBox(e));
  }
}

function showSignIn(message) {
  clear(root);
  root.className = 'signin';
  const token = h('input', {type: 'password', name: 'token', id: 'signin-token', autocomplete: 'off', required: true, spellcheck: 'false'});
  const err = h('div', {id: 'signin-error', 'aria-live': 'assertive'});
  const submit = h('button.btn.primary', {type: 'submit'}, 'Sign in');
  const form = h('form.card', {id: 'signin-form', novalidate: true},
    h('h1', h('img', {src: 'favicon.svg', alt: '', width: '32', height: '32'}), 'Gatehouse'),
    h('p', 'Sign in with a Gatehouse API token.'),
    field('API token', token, {hint: 'make run prints an admin token on its first run; gatehouse token create --account ID makes another. The token is sent once; the dashboard keeps only a session cookie.'}),
    err,
    h('div.actions', submit));
  if (message) err.append(h('div.alert.info', message));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(err);
    if (!token.value.trim()) { err.append(h('div.alert.error', {role: 'alert'}, 'Enter an API token.')); token.focus(); return; }
    submit.disabled = true;
    try {
      const s = await signIn(token.value.trim());
      token.value = '';
      start(s);
    } catch (ex) {
      err.append(h('div.alert.error', {role: 'alert'}, ex.status === 401 ? 'That token is not valid.' : ex.message));
      submit.disabled = false;
      token.focus();
    }
  });
  root.append(h('main', {id: 'main'}, form));
  token.focus();
}

function start(s) {
  shell(s);
  route();
}

window.addEventListener('hashchange', route);
window.addEventListener('gatehouse:signedout', () => showSignIn('Your session has ended. Sign in again.'));

(async () => {
  try {
    const s = await resume();
    if (s) start(s);
    else showSignIn();
  } catch (e) {
    clear(root);
    root.append(h('main', {id: 'main'}, h('h1', 'Gatehouse'), errorBox(e)));
  }
})();

