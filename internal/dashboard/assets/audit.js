// Logs → Audit log: who changed what, with the before and after values.
import {getPage} from './api.js';
import {h, field, table, pagedList, timeEl} from './dom.js';

/** Flattens a JSON value into path → printed leaf. */
function flatten(v, prefix = '', out = new Map()) {
  if (v && typeof v === 'object' && !(Array.isArray(v) && v.length === 0) && !(Object.keys(v).length === 0)) {
    for (const [k, x] of Object.entries(v)) flatten(x, Array.isArray(v) ? `${prefix}[${k}]` : (prefix ? `${prefix}.${k}` : k), out);
  } else if (prefix) {
    out.set(prefix, JSON.stringify(v));
  }
  return out;
}

/** The changed members of an audit entry, as rows of path, before, after. */
function diff(before, after) {
  const a = flatten(before || {});
  const b = flatten(after || {});
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort();
  return keys.filter((k) => a.get(k) !== b.get(k) && k !== 'updated_at').map((k) => [k, a.get(k), b.get(k)]);
}

function diffTable(e) {
  const rows = diff(e.oldValueJson, e.newValueJson);
  if (!rows.length) return h('p.muted', 'No recorded values changed.');
  return h('table.diff', h('caption.visually-hidden', 'Changes'),
    h('thead', h('tr', h('th', {scope: 'col'}, 'Field'), h('th', {scope: 'col'}, 'Before'), h('th', {scope: 'col'}, 'After'))),
    h('tbody', rows.map(([k, x, y]) => h('tr', {dataset: {path: k}}, h('th', {scope: 'row'}, h('code', k)),
      h('td.before', x === undefined ? h('span.muted', '—') : h('code', x)),
      h('td.after', y === undefined ? h('span.muted', '—') : h('code', y))))));
}

function resourceName(e) {
  const v = e.newValueJson || e.oldValueJson || {};
  return v.name || v.domain || e.resource.id;
}

/** An entry's row, and the row under it that shows its changes. */
function entryRows(e) {
  const detail = h('tr.detail', {hidden: true}, h('td', {colspan: '6'}, diffTable(e)));
  const btn = h('button.btn.small', {type: 'button', 'aria-expanded': 'false'}, 'Show changes');
  btn.addEventListener('click', () => {
    detail.hidden = !detail.hidden;
    btn.setAttribute('aria-expanded', String(!detail.hidden));
    btn.textContent = detail.hidden ? 'Show changes' : 'Hide changes';
  });
  return [h('tr', {dataset: {action: e.action.type, resource: e.resource.id}},
    h('td', timeEl(e.when)), h('td', e.actor.name || e.actor.type), h('td', h('code', e.action.type)),
    h('td', `${e.resource.type.replaceAll('_', ' ')} `, h('strong', resourceName(e))),
    h('td', String(e.config_version)), h('td', btn)), detail];
}

export async function render(main) {
  const resource = h('input', {type: 'search', placeholder: 'a resource id', spellcheck: 'false', autocomplete: 'off'});
  const out = h('div', {id: 'audit-list', 'aria-live': 'polite'});
  const load = pagedList(out, 'the audit log', (page) => getPage('/audit_logs', page, {resource_id: resource.value.trim()}),
    (entries) => table('Audit log', ['When', 'Who', 'Action', 'Resource', 'Config version', 'Changes'], entries.flatMap(entryRows), 'No changes recorded.'));
  const form = h('form.filters', {novalidate: true}, field('Resource', resource), h('div.actions', h('button.btn', {type: 'submit'}, 'Filter')));
  form.addEventListener('submit', (e) => { e.preventDefault(); load(); });
  main.append(h('h1', 'Audit log'), h('p.lead', 'Every change to applications, policies, service tokens and identity providers, newest first. Secrets are never recorded.'), form, out);
  load();
}
