// Settings → Authentication → Login methods: the account's identity
// providers. Client secrets are write-only.
import {api, getAll, readOnly, APIError} from './api.js';
import {h, clear, field, select, table, copyButton, confirmDialog, toast, errorBox, loading, showFieldErrors, clearFieldErrors, timeEl} from './dom.js';

export async function render(main) {
  const ro = readOnly();
  const box = h('div', loading('Loading identity providers'));
  main.append(h('h1', 'Identity providers'),
    h('p.lead', 'Login methods users choose from at the auth domain. Which ones an application offers is set on its Authentication tab.'),
    box);
  const load = async () => {
    try {
      const list = await getAll('/access/identity_providers');
      clear(box).append(table('Identity providers', ['Name', 'Type', 'ID', 'Details', 'Updated', ro ? null : 'Actions'].filter(Boolean), list.map((p) => h('tr',
        h('td', p.name), h('td', p.type === 'onetimepin' ? 'One-time PIN' : 'OpenID Connect'),
        h('td', h('span.copyable', h('code', p.id.slice(0, 8) + '…'), copyButton(p.id, `id of ${p.name}`))),
        h('td', p.type === 'oidc' ? `${p.config.issuer_url || p.config.auth_url || ''} · client ${p.config.client_id || '—'}${p.config.client_secret_set ? ' · secret stored' : ''}` : 'PINs by email'),
        h('td', timeEl(p.updated_at)),
        ro ? null : h('td', h('button.btn.small.danger.write', {type: 'button', on: {click: async () => {
          if (!await confirmDialog(`Delete ${p.name}?`, h('p', 'Users can no longer log in with it. Gatehouse refuses while an application or a login method rule names it.'), 'Delete', true)) return;
          try { await api('DELETE', `/access/identity_providers/${p.id}`); toast(`Deleted ${p.name}`); load(); } catch (e) { toast(e.message, 'error'); }
        }}}, 'Delete')))), 'No identity providers yet.'));
    } catch (e) { clear(box).append(errorBox(e)); }
  };
  if (!ro) main.append(createForm(load));
  load();
}

function createForm(reload) {
  const type = select([['oidc', 'OpenID Connect'], ['onetimepin', 'One-time PIN']], 'oidc');
  const name = h('input', {type: 'text', autocomplete: 'off'});
  const issuer = h('input', {type: 'url', placeholder: 'https://login.example.com', spellcheck: 'false'});
  const clientID = h('input', {type: 'text', spellcheck: 'false', autocomplete: 'off'});
  const secret = h('input', {type: 'password', autocomplete: 'new-password'});
  const oidc = h('div', field('Issuer URL', issuer, {field: 'config.issuer_url', hint: 'OIDC discovery finds the endpoints.'}),
    field('Client ID', clientID, {field: 'config.client_id'}), field('Client secret', secret, {field: 'config.client_secret'}));
  type.addEventListener('change', () => { oidc.hidden = type.value !== 'oidc'; });
  const err = h('div', {'aria-live': 'assertive'});
  const form = h('form.card.write', {novalidate: true},
    h('h2', 'Add an identity provider'), field('Type', type, {field: 'type'}), field('Name', name, {field: 'name', hint: 'Shown to users on the login page.'}),
    oidc, h('div.actions', h('button.btn.primary', {type: 'submit'}, 'Add')), err);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFieldErrors(form);
    clear(err);
    const body = {name: name.value.trim(), type: type.value, config: {}};
    if (type.value === 'oidc') body.config = {issuer_url: issuer.value.trim(), client_id: clientID.value.trim(), client_secret: secret.value};
    try {
      await api('POST', '/access/identity_providers', body);
      toast(`Added ${body.name}`);
      form.reset();
      oidc.hidden = false;
      reload();
    } catch (ex) {
      const rest = ex instanceof APIError ? showFieldErrors(form, ex.errors) : [ex];
      if (rest.length) err.append(errorBox(rest.map((x) => x.message).join('; ')));
    }
  });
  return form;
}
