// Access → Access groups: the account's groups, the policies that use
// them through a group rule. Groups are written through the API or the
// CLI (gatehouse groups); this page lists them.
import {getAll} from './api.js';
import {h, clear, table, loading} from './dom.js';
import {policyContext, rulesSummary} from './policies.js';

export async function render(main) {
  main.append(loading('Loading Access groups'));
  const [groups, ctx] = await Promise.all([getAll('/access/groups'), policyContext()]);
  clear(main);
  const usedBy = (id) => ctx.reusable.filter((p) => [...p.include, ...p.require, ...p.exclude]
    .some((r) => r.group && r.group.id === id)).map((p) => p.name);
  main.append(h('h1', 'Access groups'),
    h('p.lead', 'An Access group is a named set of rules that policies use with a group rule: a request is in the group when it matches any include rule, every require rule and no exclude rule. Groups do not nest. Manage them with the API (/access/groups) or gatehouse groups.'),
    h('div', {id: 'group-list'}, table('Access groups', ['Name', 'Rules', 'Used by reusable policies'], groups.map((g) => [
      g.name, rulesSummary(g, ctx), usedBy(g.id).join(', ') || h('span.muted', 'none'),
    ]), 'No Access groups yet.')));
}
