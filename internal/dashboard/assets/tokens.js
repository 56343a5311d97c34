// Access → Service Auth → Service tokens. A new or rotated Client Secret
// is shown once, in the page only: it is never stored by the dashboard,
// and the API cannot show it again.
import {api, get, getAll, readOnly, APIError} from './api.js';
import {h, clear, field, select, table, badge, timeEl, when, copyButton, confirmDialog, formDialog, toast, errorBox, loading,
  showFormError, clearFieldErrors} from './dom.js';

const durations = [['8760h', '1 year'], ['17520h', '2 years'], ['4380h', '6 months'], ['2160h', '90 days'], ['720h', '30 days'],
  ['168h', '1 week'], ['876000h', 'Non-expiring (100 years)']];
const graces = [['', 'at once'], ['1h', 'in 1 hour'], ['24h', 'in 24 hours'], ['168h', 'in 7 days']];

function durationText(d) {
  const m = /^(\d+)h$/.exec(d || '');
  if (!m) return d;
  const hrs = Number(m[1]);
  if (hrs % 8760 === 0) return `${hrs / 8760} year${hrs === 8760 ? '' : 's'}`;
  if (hrs % 24 === 0) return `${hrs / 24} days`;
  return d;
}

export async function render(main) {
  const ro = readOnly();
  const secretBox = h('div', {id: 'secret-box'});
  const listBox = h('div', {id: 'token-list'}, loading('Loading service tokens'));
  const form = ro ? null : createForm(secretBox, () => load());
  main.append(
    h('div.page-head', h('h1', 'Service tokens')),
    h('p.lead', 'Service tokens let scripts and services through Service Auth policies: they send CF-Access-Client-Id and CF-Access-Client-Secret instead of logging in.'),
    secretBox, form || '', listBox);
  const load = async () => {
    try {
      const tokens = await getAll('/access/service_tokens');
      const now = Date.now();
      clear(listBox).append(table('Service tokens', ['Name', 'Client ID', 'Duration', 'Expires', 'Last seen', ro ? null : 'Actions'].filter(Boolean),
        tokens.map((t) => h('tr', {dataset: {token: t.id, name: t.name}},
          h('td', t.name, t.previous_client_secret_expires_at && Date.parse(t.previous_client_secret_expires_at) > now ?
            h('span.muted', {title: `previous secret works until ${t.previous_client_secret_expires_at}`}, ' (rotating)') : null),
          h('td', h('code', t.client_id)),
          h('td', durationText(t.duration)),
          h('td', timeEl(t.expires_at), Date.parse(t.expires_at) < now ? [' ', badge('expired', 'deny')] : null),
          h('td', t.last_seen_at ? timeEl(t.last_seen_at) : h('span.muted', 'never')),
          ro ? null : h('td.nowrap',
            h('button.btn.small.write.refresh-token', {type: 'button', on: {click: () => refresh(t)}, title: 'Extend the expiry to now plus the duration'}, 'Refresh'),
            h('button.btn.small.write.rotate-token', {type: 'button', on: {click: () => rotate(t)}}, 'Rotate'),
            h('button.btn.small.write.edit-token', {type: 'button', on: {click: () => edit(t)}, 'aria-label': `Edit ${t.name}`}, 'Edit'),
            h('button.btn.small.danger.write.delete-token', {type: 'button', on: {click: () => remove(t)}}, 'Delete')))),
        'No service tokens yet.'));
    } catch (e) { clear(listBox).append(errorBox(e)); }
  };
  // edit renames a token or changes its duration (PUT with only those
  // members), against the revision read when the dialog opens.
  const edit = async (listed) => {
    let t = listed;
    let etag = null;
    try { ({result: t, etag} = await get(`/access/service_tokens/${listed.id}`)); } catch (e) { toast(e.message, 'error'); return; }
    const name = h('input', {type: 'text', id: 'edit-token-name', value: t.name, autocomplete: 'off'});
    const options = durations.some(([v]) => v === t.duration) ? durations : [...durations, [t.duration, durationText(t.duration)]];
    const dur = select(options, t.duration);
    dur.id = 'edit-token-duration';
    const saved = await formDialog(`Edit ${t.name}`, [
      field('Service token name', name, {field: 'name'}),
      field('Service token duration', dur, {field: 'duration', hint: `It now expires ${when(t.expires_at)}. A new duration counts from the next Refresh, which sets the expiry to then plus the duration.`}),
    ], 'Save', async () => {
      try {
        await api('PUT', `/access/service_tokens/${t.id}`, {name: name.value.trim(), duration: dur.value}, {ifMatch: etag});
      } catch (e) {
        if (e instanceof APIError && e.status === 412) throw new Error('The token changed since you opened this dialog. Cancel and try again.');
        throw e;
      }
    });
    if (saved) { toast(`Saved ${name.value.trim()}`); load(); }
  };
  const refresh = async (t) => {
    try {
      const {result} = await api('POST', `/access/service_tokens/${t.id}/refresh`);
      toast(`${t.name} now expires ${new Date(result.expires_at).toLocaleString()}`);
      load();
    } catch (e) { toast(e.message, 'error'); }
  };
  const rotate = async (t) => {
    const grace = select(graces, '');
    grace.id = 'rotate-grace';
    const ok = await confirmDialog(`Rotate the secret of ${t.name}?`, [
      h('p', 'Gatehouse issues a new Client Secret. Every client must switch to it.'),
      field('The previous secret stops working', grace)], 'Rotate secret', true);
    if (!ok) return;
    const body = grace.value ? {previous_client_secret_expires_at: new Date(Date.now() + parseInt(grace.value, 10) * 3600e3).toISOString()} : undefined;
    try {
      const {result} = await api('POST', `/access/service_tokens/${t.id}/rotate`, body);
      showSecret(secretBox, result, true);
      load();
    } catch (e) { toast(e.message, 'error'); }
  };
  const remove = async (t) => {
    let refs = [];
    try { refs = await referencingPolicies(t.id); } catch (e) { toast(`Could not check which policies use ${t.name}: ${e.message}`, 'error'); }
    const ok = await confirmDialog(`Delete ${t.name}?`, refs.length ? [
      h('p', `${refs.length === 1 ? 'This policy names' : 'These policies name'} the token; Gatehouse refuses to delete it until they stop:`),
      h('ul', {id: 'token-refs'}, refs.map((r) => h('li', r)))] : h('p', 'No policy names this token. Clients using it are refused at once.'),
    'Delete token', true);
    if (!ok) return;
    try {
      await api('DELETE', `/access/service_tokens/${t.id}`);
      toast(`Deleted ${t.name}`);
      load();
    } catch (e) { toast(e.message, 'error'); }
  };
  load();
}

/** Names of every policy with a rule naming token id, computed from the policies list and the apps' policies. */
async function referencingPolicies(id) {
  const [reusable, apps] = await Promise.all([getAll('/access/policies'), getAll('/access/apps')]);
  const names = new Map();
  const names_ = (p, where) => {
    for (const list of ['include', 'require', 'exclude']) {
      if ((p[list] || []).some((r) => r.service_token && r.service_token.token_id === id)) names.set(p.id, where ? `${p.name} (${where})` : p.name);
    }
  };
  for (const p of reusable) names_(p, 'reusable');
  for (const a of apps) for (const p of a.policies) if (!p.reusable) names_(p, `application ${a.name}`);
  return [...names.values()];
}

function createForm(secretBox, reload) {
  const name = h('input', {type: 'text', id: 'token-name-input', autocomplete: 'off'});
  const dur = select(durations, '8760h');
  dur.id = 'token-duration';
  const err = h('div', {'aria-live': 'assertive'});
  const form = h('form.card.inline-form.write', {novalidate: true, id: 'create-token'},
    h('h2', 'Create a service token'),
    field('Service token name', name, {field: 'name'}),
    field('Service token duration', dur, {field: 'duration'}),
    h('div.actions', h('button.btn.primary', {type: 'submit'}, 'Generate token')), err);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFieldErrors(form);
    clear(err);
    try {
      const {result} = await api('POST', '/access/service_tokens', {name: name.value.trim(), duration: dur.value});
      name.value = '';
      showSecret(secretBox, result, false);
      reload();
    } catch (ex) {
      showFormError(form, err, ex);
    }
  });
  return form;
}

function showSecret(box, t, rotated) {
  const secret = h('code', {id: 'client-secret'}, t.client_secret);
  clear(box).append(h('section.card.secret', {'aria-labelledby': 'secret-title'},
    h('h2', {id: 'secret-title'}, rotated ? `New secret for ${t.name}` : `${t.name} created`),
    h('div.alert.warn', {role: 'alert'}, 'Copy the Client Secret now. It is shown only once: Gatehouse keeps only its hash, so after you leave or reload this page it cannot be shown again.'),
    h('div.field', h('span.label', 'Client ID'), h('div.copyable', h('code', {id: 'client-id'}, t.client_id), copyButton(t.client_id, 'Client ID'))),
    h('div.field', h('span.label', 'Client Secret'), h('div.copyable', secret, copyButton(t.client_secret, 'Client Secret'))),
    h('p.hint', 'Send them as headers:'),
    h('pre', `CF-Access-Client-Id: ${t.client_id}\nCF-Access-Client-Secret: ${t.client_secret}`),
    h('button.btn', {type: 'button', on: {click: () => clear(box)}}, 'I have copied it')));
  box.scrollIntoView({block: 'nearest'});
  box.querySelector('h2').focus?.();
}

