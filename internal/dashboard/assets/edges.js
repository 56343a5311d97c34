// Gatehouse → Edges: every running edge and whether it enforces the
// latest configuration. Refreshes every 5 seconds while shown.
import {get} from './api.js';
import {h, clear, table, badge, timeEl, errorBox, loading} from './dom.js';

export async function render(main) {
  const out = h('div', {id: 'edge-list', 'aria-live': 'polite'}, loading('Loading edges'));
  main.append(h('h1', 'Edges'),
    h('p.lead', 'Edges register themselves and send a heartbeat every 5 seconds. An edge is current when it enforces the latest committed configuration version. Edges serve every account.'),
    out);
  const load = async () => {
    if (!out.isConnected) { clearInterval(timer); return; }
    try {
      const {result} = await get('/gatehouse/edges');
      clear(out).append(
        h('p', 'Latest configuration version: ', h('strong', {id: 'latest-version'}, String(result.latest_version))),
        table('Edges', ['Instance', 'Address', 'Version', 'Config version', 'Status', 'Last reload', 'Last heartbeat', 'Last error'], result.edges.map((e) => [
          h('code', e.id), e.addr, e.version || h('span.muted', 'unknown'), String(e.config_version),
          e.current ? badge('current', 'allow') : badge(`behind by ${result.latest_version - e.config_version}`, 'deny'),
          timeEl(e.last_reload_at), timeEl(e.heartbeat_at), e.last_error ? h('span.error-text', e.last_error) : h('span.muted', 'none'),
        ]), 'No edge is running. Start one with gatehouse serve or gatehouse edge.'));
    } catch (e) { clear(out).append(errorBox(e)); }
  };
  const timer = setInterval(load, 5000);
  await load();
}
