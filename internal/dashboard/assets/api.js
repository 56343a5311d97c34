// The dashboard's only way to the server: the public REST API under
// /client/v4, signed in with the dashboard session cookie (HttpOnly, set
// by the server) and the CSRF token, which lives in this module's memory
// only, never in storage.

const base = '/client/v4';

/** The signed-in session, or null. */
let session = null;

export function currentSession() { return session; }
export function readOnly() { return !session || session.read_only; }

/** An API failure: status, the envelope's errors and a message for people. */
export class APIError extends Error {
  constructor(status, errors, message) {
    super(message);
    this.status = status;
    this.errors = errors || [];
  }
}

async function call(method, url, body, opts = {}) {
  const headers = {Accept: 'application/json'};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (session && session.csrf_token) headers['X-Gatehouse-CSRF'] = session.csrf_token;
  if (opts.ifMatch) headers['If-Match'] = opts.ifMatch;
  let r;
  try {
    r = await fetch(url, {method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin', cache: 'no-store', signal: opts.signal});
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new APIError(0, [], 'The Gatehouse API could not be reached: ' + e.message);
  }
  let env = null;
  if ((r.headers.get('Content-Type') || '').startsWith('application/json')) {
    try { env = await r.json(); } catch { env = null; }
  }
  if (!r.ok || !env || env.success === false) {
    const errors = (env && env.errors) || [];
    const msg = errors.length ? errors.map((e) => e.message).join('; ') : `HTTP ${r.status}`;
    if (r.status === 401 && session && !opts.quiet401) {
      session = null;
      window.dispatchEvent(new CustomEvent('gatehouse:signedout'));
    }
    throw new APIError(r.status, errors, msg);
  }
  return {result: env.result, info: env.result_info || null, etag: r.headers.get('ETag'), status: r.status};
}

function accountURL(path) {
  if (!session) throw new APIError(401, [], 'not signed in');
  return `${base}/accounts/${encodeURIComponent(session.account_id)}${path}`;
}

/** Calls an account route: path is relative to /accounts/{id}. */
export function api(method, path, body, opts) { return call(method, accountURL(path), body, opts); }

export const get = (path, opts) => api('GET', path, undefined, opts);

/** Reads every page of a list. */
export async function getAll(path) {
  const sep = path.includes('?') ? '&' : '?';
  let page = 1;
  const out = [];
  for (;;) {
    const {result, info} = await get(`${path}${sep}page=${page}&per_page=1000`);
    out.push(...result);
    if (!info || page >= info.total_pages || result.length === 0) return out;
    page++;
  }
}

/** Reads one page of a list, 25 rows, with the filters that are not empty. */
export function getPage(path, page, filters = {}) {
  const q = new URLSearchParams({page: String(page), per_page: '25'});
  for (const [k, v] of Object.entries(filters)) if (v) q.set(k, v);
  return get(`${path}?${q}`);
}

const sessionURL = `${base}/gatehouse/dashboard/session`;

/** Restores the session of a reloaded page from its cookie, if any. */
export async function resume() {
  try {
    const {result} = await call('GET', sessionURL, undefined, {quiet401: true});
    session = result;
  } catch (e) {
    session = null;
    if (e.status !== 401) throw e;
  }
  return session;
}

/** Signs in with an API token, which is sent once and not kept. */
export async function signIn(token) {
  const {result} = await call('POST', sessionURL, {token}, {quiet401: true});
  session = result;
  return session;
}

export async function signOut() {
  try {
    await call('DELETE', sessionURL, undefined, {quiet401: true});
  } finally {
    session = null;
  }
}
