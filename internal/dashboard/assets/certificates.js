// Access → Service Auth → Mutual TLS: the CA certificates whose client
// certificates satisfy the certificate and common_name rules, on their
// associated hostnames. Uploaded, renamed or given other hostnames,
// and deleted; the CA itself cannot change (upload a new one).
import {api, get, getAll, readOnly, APIError} from './api.js';
import {h, clear, field, table, timeEl, badge, confirmDialog, formDialog, toast, errorBox, loading,
  showFormError, clearFieldErrors, lines} from './dom.js';

export async function render(main) {
  const ro = readOnly();
  const listBox = h('div', {id: 'cert-list'}, loading('Loading certificates'));
  main.append(h('div.page-head', h('h1', 'Mutual TLS certificates')),
    h('p.lead', 'Upload the CA that signs your clients\' certificates. On its associated hostnames, a request whose client certificate it signed satisfies the Valid certificate and Common name rules of a policy. The edge must serve TLS to see client certificates.'));
  main.append(listBox);
  if (!ro) main.append(uploadForm(() => load()));
  const load = async () => {
    try {
      const certs = await getAll('/access/certificates');
      const now = Date.now();
      clear(listBox).append(table('Mutual TLS certificates', ['Name', 'Fingerprint (SHA-256)', 'Expires', 'Associated hostnames', ro ? null : 'Actions'].filter(Boolean),
        certs.map((c) => h('tr', {dataset: {cert: c.id, name: c.name}},
          h('td', c.name),
          h('td', h('code.fingerprint', {title: c.fingerprint}, fingerprintText(c.fingerprint))),
          h('td.nowrap', timeEl(c.expires_on), Date.parse(c.expires_on) < now ? [' ', badge('expired', 'deny')] : null),
          h('td', c.associated_hostnames.length ? c.associated_hostnames.join(', ') : h('span.muted', 'none')),
          ro ? null : h('td.nowrap',
            h('button.btn.small.write.edit-cert', {type: 'button', 'aria-label': `Edit ${c.name}`, on: {click: () => edit(c)}}, 'Edit'),
            h('button.btn.small.danger.write.delete-cert', {type: 'button', 'aria-label': `Delete ${c.name}`, on: {click: () => remove(c)}}, 'Delete')))),
        'No certificates yet.'));
    } catch (e) { clear(listBox).append(errorBox(e)); }
  };
  const edit = async (listed) => {
    let c, etag;
    try { ({result: c, etag} = await get(`/access/certificates/${listed.id}`)); } catch (e) { toast(e.message, 'error'); return; }
    const name = h('input', {type: 'text', id: 'edit-cert-name', value: c.name, autocomplete: 'off'});
    const hosts = h('textarea', {id: 'edit-cert-hostnames', rows: '4', spellcheck: 'false'});
    hosts.value = c.associated_hostnames.join('\n');
    const saved = await formDialog(`Edit ${c.name}`, [
      field('Name', name, {field: 'name'}),
      field('Associated hostnames', hosts, {field: 'associated_hostnames', hint: 'One per line: a host name or a *. wildcard, without a path or port. The CA itself cannot change; upload a new one.'}),
    ], 'Save', async () => {
      try {
        await api('PUT', `/access/certificates/${c.id}`, {name: name.value.trim(), associated_hostnames: lines(hosts.value)}, {ifMatch: etag});
      } catch (e) {
        if (e instanceof APIError && e.status === 412) throw new Error('The certificate changed since you opened this dialog. Cancel and try again.');
        throw e;
      }
    });
    if (saved) { toast(`Saved ${name.value.trim()}`); load(); }
  };
  const remove = async (c) => {
    const ok = await confirmDialog(`Delete ${c.name}?`,
      h('p', 'Client certificates this CA signed stop satisfying any rule as soon as the edges apply the change.'), 'Delete certificate', true);
    if (!ok) return;
    try {
      await api('DELETE', `/access/certificates/${c.id}`);
      toast(`Deleted ${c.name}`);
      load();
    } catch (e) { toast(e.message, 'error'); }
  };
  load();
}

/** A SHA-256 fingerprint in pairs, shortened: the full one is in the tooltip. */
function fingerprintText(fp) {
  const pairs = (fp || '').match(/../g) || [];
  return pairs.length > 8 ? `${pairs.slice(0, 8).join(':')}…` : pairs.join(':');
}

function uploadForm(reload) {
  const name = h('input', {type: 'text', id: 'cert-name', autocomplete: 'off'});
  const pem = h('textarea', {id: 'cert-pem', rows: '8', spellcheck: 'false', placeholder: '-----BEGIN CERTIFICATE-----'});
  const file = h('input', {type: 'file', id: 'cert-file', accept: '.pem,.crt,.cer,application/x-pem-file'});
  const hosts = h('textarea', {id: 'cert-hostnames', rows: '3', spellcheck: 'false', placeholder: 'api.example.com'});
  file.addEventListener('change', async () => {
    const f = file.files && file.files[0];
    if (!f) return;
    try { pem.value = await f.text(); } catch (e) { toast(`Could not read ${f.name}: ${e.message}`, 'error'); }
  });
  const err = h('div', {'aria-live': 'assertive'});
  const form = h('form.card.write', {novalidate: true, id: 'upload-cert'},
    h('h2', 'Upload a CA certificate'),
    field('Name', name, {field: 'name'}),
    field('Certificate (PEM)', pem, {field: 'certificate', hint: 'One CA certificate (basic constraints CA:TRUE), valid now. Paste it, or choose a file below.'}),
    field('Certificate file', file, {hint: 'Reads a PEM file into the field above; nothing is sent until you upload.'}),
    field('Associated hostnames', hosts, {field: 'associated_hostnames', hint: 'One per line: a host name or a *. wildcard. Client certificates count only on these hosts.'}),
    h('div.actions', h('button.btn.primary', {type: 'submit'}, 'Upload')), err);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFieldErrors(form);
    clear(err);
    const body = {name: name.value.trim(), certificate: pem.value.trim() ? pem.value : '', associated_hostnames: lines(hosts.value)};
    try {
      await api('POST', '/access/certificates', body);
      toast(`Uploaded ${body.name}`);
      form.reset();
      reload();
    } catch (ex) {
      showFormError(form, err, ex);
    }
  });
  return form;
}
