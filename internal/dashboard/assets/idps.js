// Settings → Authentication → Login methods: the account's identity
// providers, listed, added, edited and deleted. Client secrets are
// write-only: the API never returns one, and an edit that leaves the
// secret blank keeps the stored one.
import {api, get, getAll, readOnly, APIError} from './api.js';
import {h, clear, field, select, checkbox, table, copyButton, confirmDialog, toast, errorBox, loading, showFormError, clearFieldErrors, timeEl} from './dom.js';

export async function render(main, params) {
  if (params[0]) return editPage(main, params[0]);
  const ro = readOnly();
  const box = h('div', {id: 'idp-list'}, loading('Loading identity providers'));
  main.append(h('h1', 'Identity providers'),
    h('p.lead', 'Login methods users choose from at the auth domain. Which ones an application offers is set on its Authentication tab.'),
    box);
  const load = async () => {
    try {
      const list = await getAll('/access/identity_providers');
      clear(box).append(table('Identity providers', ['Name', 'Type', 'ID', 'Details', 'Updated', ro ? null : 'Actions'].filter(Boolean), list.map((p) => h('tr', {dataset: {idp: p.id, name: p.name}},
        h('td', h('a', {href: `#/idps/${encodeURIComponent(p.id)}`}, p.name)), h('td', typeLabel(p.type)),
        h('td', h('span.copyable', h('code', p.id.slice(0, 8) + '…'), copyButton(p.id, `id of ${p.name}`))),
        h('td', p.type === 'oidc' ? `${p.config.issuer_url || p.config.auth_url || ''} · client ${p.config.client_id || '—'}${p.config.client_secret_set ? ' · secret stored' : ''}` : 'PINs by email'),
        h('td', timeEl(p.updated_at)),
        ro ? null : h('td.nowrap',
          h('a.btn.small.write.edit-idp', {href: `#/idps/${encodeURIComponent(p.id)}`, 'aria-label': `Edit ${p.name}`}, 'Edit'),
          h('button.btn.small.danger.write', {type: 'button', on: {click: async () => {
            if (!await confirmDialog(`Delete ${p.name}?`, h('p', 'Users can no longer log in with it. Gatehouse refuses while an application or a login method rule names it.'), 'Delete', true)) return;
            try { await api('DELETE', `/access/identity_providers/${p.id}`); toast(`Deleted ${p.name}`); load(); } catch (e) { toast(e.message, 'error'); }
          }}}, 'Delete')))), 'No identity providers yet.'));
    } catch (e) { clear(box).append(errorBox(e)); }
  };
  if (!ro) main.append(createForm(load));
  load();
}

/** A provider type in words. */
export function typeLabel(t) { return t === 'onetimepin' ? 'One-time PIN' : 'OpenID Connect'; }

/** Words of a space- or comma-separated list. */
function words(s) { return s.split(/[\s,]+/).filter(Boolean); }

function createForm(reload) {
  const type = select([['oidc', 'OpenID Connect'], ['onetimepin', 'One-time PIN']], 'oidc');
  const name = h('input', {type: 'text', autocomplete: 'off'});
  const issuer = h('input', {type: 'url', placeholder: 'https://login.example.com', spellcheck: 'false'});
  const clientID = h('input', {type: 'text', spellcheck: 'false', autocomplete: 'off'});
  const secret = h('input', {type: 'password', autocomplete: 'new-password'});
  const oidc = h('div', field('Issuer URL', issuer, {field: 'config.issuer_url', hint: 'OIDC discovery finds the endpoints. To give them one by one, add the provider and then edit it.'}),
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
      showFormError(form, err, ex);
    }
  });
  return form;
}

// editPage edits one provider with PUT, which replaces it whole: the form
// sends every member of the config it shows, and leaves client_secret out
// when the field is blank so that the stored secret is kept.
async function editPage(main, id) {
  const ro = readOnly();
  const {result: p, etag} = await get(`/access/identity_providers/${encodeURIComponent(id)}`);
  const c = p.config || {};
  main.append(h('p.crumbs', h('a', {href: '#/idps'}, 'Identity providers'), ' / '),
    h('div.page-head', h('h1', p.name)),
    h('p.lead', `${typeLabel(p.type)} · id `, h('code', p.id), ' · updated ', timeEl(p.updated_at)));

  const text = (id, value, attrs = {}) => h('input', {type: 'text', id, value: value || '', spellcheck: 'false', autocomplete: 'off', ...attrs});
  const name = text('idp-name', p.name, {spellcheck: 'true'});
  const fields = [field('Name', name, {field: 'name', hint: 'Shown to users on the login page.'})];
  let config = () => ({});
  if (p.type === 'oidc') {
    const clientID = text('idp-client-id', c.client_id);
    const secret = h('input', {type: 'password', id: 'idp-client-secret', autocomplete: 'new-password',
      placeholder: c.client_secret_set ? 'stored (leave blank to keep it)' : ''});
    const url = (id, value) => text(id, value, {type: 'url', placeholder: 'https://'});
    const issuer = url('idp-issuer-url', c.issuer_url);
    const authURL = url('idp-auth-url', c.auth_url);
    const tokenURL = url('idp-token-url', c.token_url);
    const certsURL = url('idp-certs-url', c.certs_url);
    // Left empty, the defaults apply at login (they are not stored).
    const scopes = text('idp-scopes', (c.scopes || []).join(' '), {placeholder: 'openid email profile'});
    const emailClaim = text('idp-email-claim', c.email_claim_name, {placeholder: 'email'});
    const pkce = checkbox('Use PKCE', c.pkce_enabled !== false, {field: 'config.pkce_enabled', id: 'idp-pkce', hint: 'Proof Key for Code Exchange on the authorization code flow. Leave it on unless the provider refuses it.'});
    fields.push(
      field('Client ID', clientID, {field: 'config.client_id'}),
      field('Client secret', secret, {field: 'config.client_secret', hint: c.client_secret_set ?
        'Write-only: the stored secret is never shown. Leave this blank to keep it, or type a new one to replace it.' :
        'No secret is stored; an OpenID Connect provider needs one.'}),
      h('fieldset', h('legend', 'Endpoints'),
        h('p.hint', 'Give the issuer URL (OIDC discovery finds the endpoints), or leave it empty and give all three endpoint URLs.'),
        field('Issuer URL', issuer, {field: 'config.issuer_url'}),
        field('Authorization URL', authURL, {field: 'config.auth_url'}),
        field('Token URL', tokenURL, {field: 'config.token_url'}),
        field('Certificate (JWKS) URL', certsURL, {field: 'config.certs_url'})),
      field('Scopes', scopes, {field: 'config.scopes', hint: 'Separated by spaces; must include openid. Empty: openid email profile.'}),
      field('Email claim', emailClaim, {field: 'config.email_claim_name', hint: 'The ID token claim that holds the user\'s email. Empty: email.'}),
      pkce.wrap);
    config = () => {
      const out = {client_id: clientID.value.trim(), scopes: words(scopes.value),
        email_claim_name: emailClaim.value.trim(), pkce_enabled: pkce.input.checked};
      for (const [k, el] of [['issuer_url', issuer], ['auth_url', authURL], ['token_url', tokenURL], ['certs_url', certsURL]]) {
        if (el.value.trim()) out[k] = el.value.trim();
      }
      if (secret.value) out.client_secret = secret.value;
      return out;
    };
  } else {
    fields.push(h('p.hint', 'A one-time PIN provider has no other settings: users get a PIN by email.'));
  }
  const err = h('div', {'aria-live': 'assertive', id: 'idp-form-error'});
  const form = h('form.card', {novalidate: true, id: 'idp-form'},
    h('fieldset.plain', {disabled: ro}, fields),
    ro ? null : h('div.actions', h('button.btn.primary', {type: 'submit', id: 'save-idp'}, 'Save'), h('a.btn', {href: '#/idps'}, 'Cancel')),
    err);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFieldErrors(form);
    clear(err);
    const body = {name: name.value.trim(), type: p.type, config: config()};
    try {
      await api('PUT', `/access/identity_providers/${encodeURIComponent(p.id)}`, body, {ifMatch: etag});
      toast(`Saved ${body.name}`);
      location.hash = '#/idps';
    } catch (ex) {
      if (ex instanceof APIError && ex.status === 412) {
        err.append(errorBox('Someone changed this identity provider since you opened it. Reload the page to see the change, then edit again.'));
        return;
      }
      showFormError(form, err, ex);
    }
  });
  main.append(form);
}
