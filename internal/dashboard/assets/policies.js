// Access → Policies: reusable policies, the rule builder (shared with
// application-scoped policies) and the policy tester.
import {api, get, getAll, readOnly} from './api.js';
import {h, clear, field, select, table, badge, confirmDialog, toast, loading,
  showFormError, clearFieldErrors} from './dom.js';

const decisions = [['allow', 'Allow'], ['deny', 'Deny'], ['bypass', 'Bypass'], ['non_identity', 'Service Auth']];
export function decisionLabel(d) { return (decisions.find(([v]) => v === d) || [d, d])[1]; }

// The rule types the API accepts (README "Validation"), with the member
// that holds each one's value.
const ruleTypes = [
  {type: 'email', label: 'Emails', key: 'email', placeholder: 'ann@example.com'},
  {type: 'email_domain', label: 'Emails ending in', key: 'domain', placeholder: 'example.com'},
  {type: 'everyone', label: 'Everyone'},
  {type: 'ip', label: 'IP ranges', key: 'ip', placeholder: '192.0.2.0/24'},
  {type: 'geo', label: 'Country', key: 'country_code', placeholder: 'DE'},
  {type: 'service_token', label: 'Service Token', key: 'token_id', choose: 'tokens'},
  {type: 'any_valid_service_token', label: 'Any Access Service Token'},
  {type: 'login_method', label: 'Login Methods', key: 'id', choose: 'idps'},
  {type: 'group', label: 'Access groups', key: 'id', choose: 'groups'},
  // Several members: a provider, a claim name and a value.
  {type: 'oidc', label: 'OIDC claim', fields: [
    {key: 'identity_provider_id', label: 'Identity provider', choose: 'idps'},
    {key: 'claim_name', label: 'Claim name', placeholder: 'groups'},
    {key: 'claim_value', label: 'Claim value', placeholder: 'engineering'}]},
];
const identityTypes = ['email', 'email_domain', 'login_method', 'oidc'];

/** What the rule builder and summaries need to name tokens and providers. */
export async function policyContext() {
  const [tokens, idps, reusable, groups] = await Promise.all([
    getAll('/access/service_tokens').catch(() => []),
    getAll('/access/identity_providers').catch(() => []),
    getAll('/access/policies').catch(() => []),
    getAll('/access/groups').catch(() => []),
  ]);
  return {tokens, idps, reusable, groups};
}

function ruleText(rule, ctx) {
  const [type] = Object.keys(rule);
  const t = ruleTypes.find((x) => x.type === type);
  if (!t) return type;
  if (t.fields) {
    const r = rule[type];
    const idp = (ctx.idps.find((x) => x.id === r.identity_provider_id) || {name: r.identity_provider_id}).name;
    return `${t.label} ${r.claim_name} = ${r.claim_value} (${idp})`;
  }
  if (!t.key) return t.label;
  let v = rule[type][t.key];
  if (t.choose === 'tokens') v = (ctx.tokens.find((x) => x.id === v) || {name: v}).name;
  if (t.choose === 'idps') v = (ctx.idps.find((x) => x.id === v) || {name: v}).name;
  if (t.choose === 'groups') v = (ctx.groups.find((x) => x.id === v) || {name: v}).name;
  return `${t.label} ${v}`;
}

export function rulesSummary(p, ctx) {
  const part = (word, rs) => rs && rs.length ? h('span.rules', h('strong', word), ' ', rs.map((r) => ruleText(r, ctx)).join(', ')) : null;
  return h('span', part('Include', p.include), p.require && p.require.length ? '; ' : null, part('Require', p.require),
    p.exclude && p.exclude.length ? '; ' : null, part('Exclude', p.exclude));
}

export async function render(main, params) {
  if (params[0]) return editPage(main, params[0]);
  main.append(loading('Loading policies'));
  const [ctx, apps] = await Promise.all([policyContext(), getAll('/access/apps').catch(() => [])]);
  clear(main);
  const ro = readOnly();
  const usedBy = (id) => apps.filter((a) => a.policies.some((p) => p.id === id)).map((a) => a.name);
  main.append(
    h('div.page-head', h('h1', 'Policies'), ro ? null : h('a.btn.primary.write', {href: '#/policies/new', id: 'add-policy'}, 'Add a policy')),
    h('p.lead', 'Reusable policies can be added to any application. An application\'s own policies are on its Policies tab.'),
    table('Reusable policies', ['Name', 'Action', 'Rules', 'Used by'], ctx.reusable.map((p) => [
      h('a', {href: `#/policies/${p.id}`}, p.name), badge(decisionLabel(p.decision), p.decision), rulesSummary(p, ctx),
      p.app_count ? usedBy(p.id).join(', ') || String(p.app_count) : h('span.muted', 'no application'),
    ]), 'No reusable policies yet.'));
}

async function editPage(main, id) {
  const ctx = await policyContext();
  let policy = null;
  if (id !== 'new') policy = (await get(`/access/policies/${encodeURIComponent(id)}`)).result;
  main.append(h('p.crumbs', h('a', {href: '#/policies'}, 'Policies'), ' / '),
    h('div.page-head', h('h1', policy ? policy.name : 'Add a policy'),
      policy && !readOnly() ? h('button.btn.danger.write', {type: 'button', on: {click: async () => {
        if (!await confirmDialog(`Delete ${policy.name}?`, h('p', 'Applications that use it must stop using it first.'), 'Delete policy', true)) return;
        try { await api('DELETE', `/access/policies/${policy.id}`); toast(`Deleted ${policy.name}`); location.hash = '#/policies'; } catch (e) { toast(e.message, 'error'); }
      }}}, 'Delete') : null));
  const box = h('div');
  main.append(box);
  policyEditor(box, {ctx, policy, url: policy ? `/access/policies/${policy.id}` : '/access/policies', method: policy ? 'PUT' : 'POST',
    onCancel: () => { location.hash = '#/policies'; }, onSaved: () => { location.hash = '#/policies'; }});
}

/**
 * The policy form with its rule builder, in container. opts: ctx
 * (policyContext), policy (null for a new one), url and method of the
 * save, onSaved(policy), onCancel.
 */
export function policyEditor(container, opts) {
  const p = opts.policy || {name: '', decision: 'allow', include: [{everyone: {}}], require: [], exclude: []};
  const ro = readOnly();
  const name = h('input', {type: 'text', value: p.name, autocomplete: 'off', id: 'policy-name'});
  const decision = select(decisions, p.decision);
  decision.id = 'policy-decision';
  const dur = h('input', {type: 'text', value: p.session_duration || '', placeholder: 'the application\'s', spellcheck: 'false'});
  const lists = {};
  const form = h('form.edit.policy-form', {novalidate: true});
  const formErr = h('div', {'aria-live': 'assertive'});
  const section = (list, title, hint) => {
    const rows = h('div.rules', {id: `rules-${list}`});
    lists[list] = rows;
    for (const r of p[list] || []) rows.append(ruleRow(list, r));
    const add = ro ? null : h('button.btn.small.write', {type: 'button', on: {click: () => { const row = ruleRow(list, {email: {email: ''}}); rows.append(row); row.querySelector('select').focus(); renumber(); }}}, `Add ${title.toLowerCase()}`);
    return h('fieldset', {dataset: {field: list}}, h('legend', title), h('p.hint', hint), rows, add, h('p.field-error', {hidden: true}));
  };
  const ruleRow = (list, rule) => {
    const [type] = Object.keys(rule);
    const typeSel = select(ruleTypes.map((t) => [t.type, t.label]), type);
    const valueBox = h('span.rule-value');
    const row = h('div.rule-row', {dataset: {field: `${list}[0]`}}, field('Selector', typeSel), valueBox,
      ro ? null : h('button.btn.small.write', {type: 'button', 'aria-label': 'Remove this rule', on: {click: () => { row.remove(); renumber(); }}}, 'Remove'),
      h('p.field-error', {hidden: true}));
    const drawValue = (value) => {
      clear(valueBox);
      const t = ruleTypes.find((x) => x.type === typeSel.value);
      row.ruleType = t;
      row.valueInput = null;
      row.fieldInputs = null;
      if (t.fields) {
        const v = value && typeof value === 'object' ? value : {};
        row.fieldInputs = {};
        for (const f of t.fields) {
          const input = f.choose
            ? select(opts.ctx[f.choose].map((x) => [x.id, x.name]), v[f.key])
            : h('input', {type: 'text', value: v[f.key] || '', placeholder: f.placeholder, spellcheck: 'false', autocomplete: 'off'});
          row.fieldInputs[f.key] = input;
          valueBox.append(field(f.label, input));
        }
        return;
      }
      if (!t.key) return;
      let input;
      if (t.choose) {
        const items = opts.ctx[t.choose];
        input = select(items.map((x) => [x.id, x.name]), value);
        if (!items.length) input.append(h('option', {value: ''}, {tokens: 'no service tokens yet', idps: 'no identity providers yet', groups: 'no Access groups yet'}[t.choose]));
      } else {
        input = h('input', {type: 'text', value: value || '', placeholder: t.placeholder, spellcheck: 'false', autocomplete: 'off'});
      }
      row.valueInput = input;
      valueBox.append(field('Value', input));
    };
    typeSel.addEventListener('change', () => drawValue(''));
    const t = ruleTypes.find((x) => x.type === type);
    drawValue(t && t.fields ? rule[type] : t && t.key ? rule[type][t.key] : '');
    return row;
  };
  const renumber = () => {
    for (const [list, rows] of Object.entries(lists)) [...rows.children].forEach((r, i) => { r.dataset.field = `${list}[${i}]`; });
  };
  const collect = (list) => [...lists[list].children].map((row) => {
    const t = row.ruleType;
    if (t.fields) return {[t.type]: Object.fromEntries(t.fields.map((f) => [f.key, row.fieldInputs[f.key].value.trim()]))};
    if (!t.key) return {[t.type]: {}};
    return {[t.type]: {[t.key]: row.valueInput.value.trim()}};
  });
  const saveBtn = h('button.btn.primary.write', {type: 'submit'}, opts.policy ? 'Save policy' : 'Add policy');
  form.append(formErr, h('fieldset.plain', {disabled: ro},
    field('Policy name', name, {field: 'name'}),
    field('Action', decision, {field: 'decision', hint: 'Service Auth policies accept service tokens and no users; they cannot use email, email domain, login method or OIDC claim rules.'}),
    section('include', 'Include', 'Any of these must match (OR).'),
    section('require', 'Require', 'All of these must match too (AND).'),
    section('exclude', 'Exclude', 'None of these may match (NOT).'),
    field('Session duration', dur, {field: 'session_duration', hint: 'Optional: overrides the application\'s, such as 8h.'})),
  ro ? null : h('div.actions', saveBtn, h('button.btn', {type: 'button', on: {click: () => opts.onCancel && opts.onCancel()}}, 'Cancel')));
  renumber();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFieldErrors(form);
    clear(formErr);
    const body = {name: name.value.trim(), decision: decision.value, include: collect('include'), require: collect('require'), exclude: collect('exclude')};
    if (dur.value.trim()) body.session_duration = dur.value.trim();
    if (opts.policy && opts.policy.precedence) body.precedence = opts.policy.precedence;
    if (body.decision === 'non_identity' && [...body.include, ...body.require].some((r) => identityTypes.includes(Object.keys(r)[0]))) {
      formErr.append(h('div.alert.warn', 'Service Auth policies cannot use email, email domain, login method or OIDC claim rules; the API will refuse them.'));
    }
    saveBtn.disabled = true;
    try {
      const r = await api(opts.method, opts.url, body);
      toast(`Saved ${r.result.name}`);
      if (opts.onSaved) opts.onSaved(r.result);
    } catch (ex) {
      saveBtn.disabled = false;
      showFormError(form, formErr, ex);
    }
  });
  container.append(form);
  return form;
}

/** The policy tester: who gets in to app, and which policy and rule decide. */
export function policyTester(app, ctx) {
  const email = h('input', {type: 'email', id: 'tester-email', placeholder: 'ann@example.com', autocomplete: 'off'});
  const ip = h('input', {type: 'text', id: 'tester-ip', placeholder: '192.0.2.7', spellcheck: 'false'});
  const country = h('input', {type: 'text', id: 'tester-country', placeholder: 'DE', maxlength: '2', size: '3'});
  const token = select([['', 'none'], ...ctx.tokens.map((t) => [t.id, t.name])], '');
  token.id = 'tester-token';
  const idp = select([['', 'any'], ...ctx.idps.map((x) => [x.id, x.name])], '');
  const out = h('div', {id: 'tester-result', 'aria-live': 'polite'});
  const form = h('form.inline-form', {novalidate: true, id: 'tester-form'},
    field('User email', email, {field: 'email'}), field('Login method', idp, {field: 'login_method'}),
    field('Client IP', ip, {field: 'ip'}), field('Country', country, {field: 'country'}),
    field('Service token', token, {field: 'service_token_id'}),
    h('div.actions', h('button.btn', {type: 'submit'}, 'Test')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFieldErrors(form);
    const body = {app_id: app.id};
    if (email.value.trim()) body.email = email.value.trim();
    if (email.value.trim() && idp.value) body.login_method = idp.value;
    if (ip.value.trim()) body.ip = ip.value.trim();
    if (country.value.trim()) body.country = country.value.trim().toUpperCase();
    if (token.value) body.service_token_id = token.value;
    clear(out).append(loading('Testing'));
    try {
      const {result: r} = await api('POST', '/gatehouse/policy_test', body);
      const kind = r.decision === 'allow' ? 'ok' : r.decision === 'deny' ? 'error' : 'warn';
      clear(out).append(
        h('p', h('span.status.' + kind, {id: 'tester-decision'}, r.decision === 'login' ? 'Login required' : r.decision === 'allow' ? 'Allowed' : 'Denied'), ' ', r.reason_text),
        r.policy ? h('p', {id: 'tester-policy'}, 'Decided by ', h('strong', r.policy.name), ` (${decisionLabel(r.policy.decision)})`,
          r.rule ? ` — ${r.rule.list} rule ${r.rule.index + 1} (${r.rule.type})` : null) : h('p.muted', 'No policy decided.'),
        table('Evaluation', ['Policy', 'Action', 'Evaluated', 'Matched', 'Why'], r.policies.map((s) => [
          s.name, decisionLabel(s.decision), s.evaluated ? 'yes' : 'no', s.matched ? 'yes' : 'no', s.explanation])));
    } catch (ex) {
      showFormError(form, clear(out), ex);
    }
  });
  return h('section.tester', {'aria-labelledby': 'tester-title'}, h('h2', {id: 'tester-title'}, 'Policy tester'),
    h('p.hint', 'Describe a request; the edge\'s engine says what it decides and why. Leave email and service token empty for a request without credentials.'),
    form, out);
}


