// Logs → Overview: the access log of a time range counted by the API's
// summary, drawn as inline SVG. Every bar links to the requests table
// filtered to the entries it counts, over the same range.
import {get} from './api.js';
import {h, clear, errorBox, loading, when} from './dom.js';

const SVG = 'http://www.w3.org/2000/svg';
const ranges = [['1h', 'Last hour', 3600e3], ['24h', 'Last 24 hours', 86400e3], ['7d', 'Last 7 days', 7 * 86400e3], ['custom', 'Custom']];

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  return el;
}

// localInput formats a time for a datetime-local input.
function localInput(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

// logsLink is the requests table filtered by f over [since, until).
function logsLink(range, f) {
  const q = new URLSearchParams({...f, since: range.since, until: range.until});
  return `#/logs?${q}`;
}

const fmt = (n) => n.toLocaleString();

export async function render(main, _params, query = new URLSearchParams()) {
  let choice = query.get('range') || (query.get('since') ? 'custom' : '24h');
  if (!ranges.some((r) => r[0] === choice)) choice = '24h';
  const from = h('input', {type: 'datetime-local', id: 'range-from'});
  const to = h('input', {type: 'datetime-local', id: 'range-to'});
  const now = new Date();
  from.value = localInput(query.get('since') ? new Date(query.get('since')) : new Date(now - 86400e3));
  to.value = localInput(query.get('until') ? new Date(query.get('until')) : now);
  const custom = h('div.range-custom', {hidden: choice !== 'custom'},
    h('label', {for: from.id}, 'From'), from, h('label', {for: to.id}, 'To'), to);
  const radios = ranges.map(([v, label]) => {
    const input = h('input', {type: 'radio', name: 'range', value: v, id: `range-${v}`, checked: v === choice});
    return h('span.seg', input, h('label', {for: input.id}, label));
  });
  const picker = h('form.range-picker', {novalidate: true, id: 'range-picker'},
    h('fieldset.plain', h('legend', 'Time range'), h('div.segmented', radios)), custom);
  const out = h('div', {id: 'overview', 'aria-live': 'polite'});

  // Each change starts a load; only the latest may draw, so that a slow
  // answer for an earlier range never replaces the one asked for last.
  let latest = 0;
  const load = async () => {
    const seq = ++latest;
    let since, until;
    if (choice === 'custom') {
      since = new Date(from.value);
      until = new Date(to.value);
      if (isNaN(since) || isNaN(until)) { clear(out).append(errorBox('Enter both times of the custom range.')); return; }
    } else {
      until = new Date();
      since = new Date(until - ranges.find((r) => r[0] === choice)[2]);
    }
    // Whole seconds, so that the same range can be asked again in a link.
    since = new Date(Math.floor(since / 1000) * 1000);
    until = new Date(Math.floor(until / 1000) * 1000);
    const q = new URLSearchParams({since: since.toISOString().replace('.000Z', 'Z'), until: until.toISOString().replace('.000Z', 'Z')});
    const hashQ = choice === 'custom' ? q : new URLSearchParams({range: choice});
    history.replaceState(null, '', `#/overview?${hashQ}`);
    clear(out).append(loading('Counting access requests'));
    try {
      const {result} = await get(`/access/logs/access_requests/summary?${q}`);
      if (seq === latest) clear(out).append(draw(result));
    } catch (e) { if (seq === latest) clear(out).append(errorBox(e)); }
  };
  picker.addEventListener('change', () => {
    choice = picker.querySelector('input[name=range]:checked').value;
    custom.hidden = choice !== 'custom';
    load();
  });
  picker.addEventListener('submit', (e) => { e.preventDefault(); load(); });
  main.append(h('h1', 'Traffic overview'),
    h('p.lead', 'What the edges decided, counted from the access log: requests over time, why requests were blocked, and who and what was asked for most. Every bar opens the matching requests.'),
    picker, out);
  await load();
}

function draw(sum) {
  const range = {since: sum.since, until: sum.until};
  const wrap = h('div.overview', {dataset: {since: sum.since, until: sum.until, bucketSeconds: String(sum.bucket_seconds)}});
  wrap.append(h('dl.totals', {id: 'totals'},
    total('Requests', sum.requests, 'requests', logsLink(range, {})),
    total('Allowed', sum.allowed, 'allowed', logsLink(range, {allowed: 'true'})),
    total('Blocked', sum.blocked, 'blocked', logsLink(range, {allowed: 'false'}))));
  wrap.append(h('section.chart-card', {'aria-labelledby': 'chart-time-h'},
    h('h2', {id: 'chart-time-h'}, 'Requests over time'),
    h('p.hint', `Each bar is ${duration(sum.bucket_seconds)}; green allowed, red blocked (stacked on top).`),
    timeChart(sum, range)));
  const grid = h('div.chart-grid');
  grid.append(
    barList('Top reasons for blocks', 'chart-reasons', sum.top_block_reasons.map((r) => ({
      label: r.reason.replaceAll('_', ' '), title: r.reason_text, count: r.blocked, kind: 'deny',
      href: logsLink(range, {allowed: 'false', reason: r.reason}), data: {reason: r.reason, blocked: String(r.blocked)},
    })), 'No request was blocked.'),
    barList('Top applications', 'chart-apps', sum.top_apps.map((a) => ({
      label: a.app_domain || a.app_id, title: a.app_id, count: a.requests, blocked: a.blocked,
      href: logsLink(range, {app_id: a.app_id}), data: {appId: a.app_id, requests: String(a.requests), blocked: String(a.blocked)},
    })), 'No requests.'),
    barList('Top identities', 'chart-identities', sum.top_identities.map((i) => ({
      label: i.service_token_id ? `service token ${i.service_token_name}` : i.user_email, count: i.requests, blocked: i.blocked,
      href: logsLink(range, i.service_token_id ? {service_token_id: i.service_token_id} : {email: i.user_email, email_exact: 'true'}),
      data: {identity: i.service_token_id || i.user_email, requests: String(i.requests), blocked: String(i.blocked)},
    })), 'No signed-in users or service tokens.'),
    barList('CORS preflights', 'chart-preflights', [
      ['answered', 'answered by the edge', 'allow', 'preflight_answered'],
      ['bypassed', 'bypassed to the origin', 'warn', 'preflight_bypassed'],
      ['refused', 'refused', 'deny', 'preflight_refused'],
    ].map(([k, label, kind, action]) => ({
      label, count: sum.preflights[k], kind, href: logsLink(range, {action}), data: {preflight: k, count: String(sum.preflights[k])},
    })), null));
  wrap.append(grid, h('p.hint', `Counted from ${fmt(sum.chunks_read)} stored chunk${sum.chunks_read === 1 ? '' : 's'} of the access log.`));
  return wrap;
}

function total(label, n, key, href) {
  return h('div.total', h('dt', label), h('dd', h('a', {href, dataset: {total: key, count: String(n)}}, fmt(n))));
}

function duration(secs) {
  if (secs % 86400 === 0) return secs === 86400 ? 'a day' : `${secs / 86400} days`;
  if (secs % 3600 === 0) return secs === 3600 ? 'an hour' : `${secs / 3600} hours`;
  return secs === 60 ? 'a minute' : `${secs / 60} minutes`;
}

// timeChart draws the buckets as stacked bars, each segment a link, and
// the same numbers as a table for screen readers and for reading.
function timeChart(sum, range) {
  const W = 960, H = 200, top = 10, bottom = 22, left = 44;
  const n = sum.buckets.length;
  const max = Math.max(1, ...sum.buckets.map((b) => b.allowed + b.blocked));
  const bw = (W - left) / n;
  const y = (v) => (H - bottom) - (v / max) * (H - bottom - top);
  const svg = s('svg', {viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'group', 'aria-labelledby': 'chart-time-h', id: 'chart-time'});
  for (const v of [0, max / 2, max]) {
    const r = Math.round(v);
    svg.append(s('line', {x1: left, x2: W, y1: y(r), y2: y(r), class: 'grid'}),
      s('text', {x: left - 6, y: y(r) + 4, 'text-anchor': 'end', class: 'axis'}, fmt(r)));
  }
  const step = Math.max(1, Math.ceil(n / 8));
  sum.buckets.forEach((b, i) => {
    const start = new Date(b.start);
    const end = i + 1 < n ? new Date(sum.buckets[i + 1].start) : new Date(sum.until);
    const bucketRange = {since: b.start, until: end.toISOString().replace('.000Z', 'Z')};
    const x = left + i * bw + Math.min(1, bw * 0.1);
    const w = Math.max(1, bw - 2 * Math.min(1, bw * 0.1));
    const g = s('g', {'data-start': b.start, 'data-allowed': b.allowed, 'data-blocked': b.blocked, class: 'bucket'});
    const seg = (v, base, kind, allowed) => {
      if (!v) return null;
      const label = `${when(b.start)}: ${fmt(v)} ${allowed === 'true' ? 'allowed' : 'blocked'}`;
      return s('a', {href: logsLink(bucketRange, {allowed}), 'aria-label': label, class: `seg-${kind}`},
        s('title', {}, label), s('rect', {x, width: w, y: y(base + v), height: y(base) - y(base + v), class: kind}));
    };
    g.append(...[seg(b.allowed, 0, 'allow', 'true'), seg(b.blocked, b.allowed, 'deny', 'false')].filter(Boolean));
    svg.append(g);
    if (i % step === 0) {
      const t = sum.bucket_seconds >= 86400 ? start.toLocaleDateString(undefined, {month: 'short', day: 'numeric'})
        : start.toLocaleTimeString(undefined, {hour: '2-digit', minute: '2-digit'});
      svg.append(s('text', {x: left + i * bw, y: H - 6, class: 'axis'}, t));
    }
  });
  const rows = sum.buckets.filter((b) => b.allowed + b.blocked > 0);
  const details = h('details.chart-table', h('summary', 'Show as a table'),
    rows.length ? h('table', h('caption.visually-hidden', 'Requests over time'),
      h('thead', h('tr', h('th', {scope: 'col'}, 'From'), h('th', {scope: 'col'}, 'Allowed'), h('th', {scope: 'col'}, 'Blocked'))),
      h('tbody', rows.map((b) => h('tr', h('td', when(b.start)), h('td', fmt(b.allowed)), h('td', fmt(b.blocked))))))
      : h('p.muted', 'No requests in this range.'));
  return h('div', svg, details);
}

// barList draws one horizontal bar per item; the whole row is a link.
function barList(title, id, items, empty) {
  const max = Math.max(1, ...items.map((i) => i.count));
  const body = items.length || !empty ? h('ol.bars', {id}, items.map((i) => {
    const w = Math.round((i.count / max) * 100);
    const bar = s('svg', {viewBox: '0 0 100 8', preserveAspectRatio: 'none', class: 'bar', 'aria-hidden': 'true', focusable: 'false'},
      s('rect', {x: 0, y: 0, width: 100, height: 8, class: 'track'}),
      s('rect', {x: 0, y: 0, width: w, height: 8, class: i.kind || 'allow'}),
      i.blocked ? s('rect', {x: w - Math.round((i.blocked / max) * 100), y: 0, width: Math.round((i.blocked / max) * 100), height: 8, class: 'deny'}) : null);
    return h('li', {dataset: i.data}, h('a', {href: i.href, title: i.title || null},
      h('span.bar-label', i.label), h('span.bar-count', fmt(i.count), i.blocked ? h('span.muted', ` (${fmt(i.blocked)} blocked)`) : null), bar));
  })) : h('p.empty', empty);
  return h('section.chart-card', {'aria-labelledby': `${id}-h`}, h('h2', {id: `${id}-h`}, title), body);
}
