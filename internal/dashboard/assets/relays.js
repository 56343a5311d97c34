// Relays: applications that present a service token to an upstream
// Access application instead of the user's identity (Gatehouse's built-in
// form of the CORS guide's Worker recipe).
import {getAll} from './api.js';
import {h, clear, table, badge, loading} from './dom.js';

export async function render(main) {
  main.append(h('h1', 'Relays'),
    h('p.lead', 'A relay is an application whose origin is another Access application: for each allowed request the edge drops the user\'s cookies and sends the configured service token instead, so pages call same-origin and never need CORS. Set one on an application\'s Overview tab.'));
  const box = h('div', loading('Loading applications'));
  main.append(box);
  const apps = (await getAll('/access/apps')).filter((a) => a.upstream_service_token);
  clear(box).append(table('Relays', ['Application', 'Domain', 'Upstream (origin)', 'Service token client ID', 'Secret'], apps.map((a) => [
    h('a', {href: `#/apps/${a.id}/overview`}, a.name), a.domain, h('code', a.origin || '—'), h('code', a.upstream_service_token.client_id),
    a.upstream_service_token.client_secret_set ? badge('stored', 'allow') : badge('missing', 'deny'),
  ]), 'No relays. Give an application an upstream service token on its Overview tab to make one.'));
}
