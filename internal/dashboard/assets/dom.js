// Small DOM helpers. Everything is built with createElement and
// textContent: API data never goes through HTML parsing.

const props = new Set(['value', 'checked', 'disabled', 'selected', 'hidden', 'multiple', 'readOnly', 'required']);

/**
 * h('tag.class1.class2', {attr: value, on: {click: fn}}, ...children).
 * Children are nodes, strings (text), arrays, or null/false (skipped).
 */
export function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split('.');
  const el = document.createElement(tag || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'on') {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    } else if (k === 'class') {
      el.className += (el.className ? ' ' : '') + v;
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (props.has(k)) {
      el[k] = v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

let ids = 0;
function uid(prefix = 'f') { return `${prefix}-${++ids}`; }

/** Formats an RFC 3339 time for people, or a dash. */
export function when(ts) {
  if (!ts) return '—';
  const d = new Date(ts);
  if (isNaN(d)) return ts;
  return d.toLocaleString(undefined, {year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit'});
}

export function timeEl(ts) {
  return ts ? h('time', {datetime: ts, title: ts}, when(ts)) : h('span.muted', '—');
}

export function debounce(fn, ms) {
  let t;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}

/** A button that copies text to the clipboard, and says so. */
export function copyButton(text, label = 'Copy') {
  const b = h('button.btn.small', {type: 'button', 'aria-label': `${label}: copy to clipboard`}, 'Copy');
  b.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(typeof text === 'function' ? text() : text);
      b.textContent = 'Copied';
    } catch {
      // Without clipboard permission, select the text for Ctrl+C instead.
      const code = b.parentElement && b.parentElement.querySelector('code, input');
      if (code) {
        if (code.select) code.select();
        else window.getSelection().selectAllChildren(code);
      }
      b.textContent = 'Press Ctrl+C';
    }
    setTimeout(() => { b.textContent = 'Copy'; }, 2000);
  });
  return b;
}

/**
 * Opens a modal dialog titled title: build(heading, cancel, done) returns
 * its content, with the heading and Cancel button in place. Resolves with
 * the value given to done(v), which closes it; Cancel and Escape resolve
 * false.
 */
function modal(title, build) {
  return new Promise((resolve) => {
    const d = h('dialog.modal', {'aria-labelledby': 'dlg-title'});
    let answered = false;
    const done = (v) => { if (answered) return; answered = true; d.close(); d.remove(); resolve(v); };
    d.addEventListener('close', () => done(false));
    const cancel = h('button.btn', {type: 'button', value: 'cancel', on: {click: () => done(false)}}, 'Cancel');
    append(d, [build(h('h2', {id: 'dlg-title'}, title), cancel, done)]);
    document.body.appendChild(d);
    d.showModal();
    // A form's first field, else Cancel: a confirmation starts on the safe answer.
    (d.querySelector('form :is(input, select, textarea)') || cancel).focus();
  });
}

/** A modal confirm dialog; resolves true when confirmed. */
export function confirmDialog(title, body, confirmLabel = 'Confirm', danger = false) {
  return modal(title, (heading, cancel, done) => {
    const ok = h(danger ? 'button.btn.danger' : 'button.btn.primary', {type: 'button', value: 'ok', on: {click: () => done(true)}}, confirmLabel);
    return [heading, h('div.dialog-body', body), h('div.actions', cancel, ok)];
  });
}

/**
 * A modal dialog holding a form. On submit it awaits save(); the dialog
 * closes when that resolves, and stays open when it throws, with the
 * error shown by showFormError. Resolves true when saved, false when
 * cancelled.
 */
export function formDialog(title, body, saveLabel, save) {
  return modal(title, (heading, cancel, done) => {
    const err = h('div', {'aria-live': 'assertive'});
    const ok = h('button.btn.primary', {type: 'submit'}, saveLabel);
    const form = h('form', {novalidate: true}, heading, h('div.dialog-body', body), err, h('div.actions', cancel, ok));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearFieldErrors(form);
      clear(err);
      ok.disabled = true;
      try {
        await save();
        done(true);
      } catch (ex) {
        showFormError(form, err, ex);
      } finally {
        ok.disabled = false;
      }
    });
    return form;
  });
}

/** A transient status message, announced to screen readers. */
export function toast(message, kind = 'ok') {
  let area = document.getElementById('toasts');
  if (!area) {
    area = h('div.toasts', {id: 'toasts', role: 'status', 'aria-live': 'polite'});
    document.body.appendChild(area);
  }
  const t = h(`div.toast.${kind}`, message);
  area.appendChild(t);
  setTimeout(() => t.remove(), 5000);
}

/** An error box for a failed load or action. */
export function errorBox(err) {
  return h('div.alert.error', {role: 'alert'}, err && err.message ? err.message : String(err));
}

export function loading(what = 'Loading') { return h('p.muted.loading', {role: 'status'}, `${what}…`); }

/** A labelled form field; input is the control, hint optional. */
export function field(label, input, opts = {}) {
  if (!input.id) input.id = uid();
  const err = h('p.field-error', {id: `${input.id}-err`, hidden: true});
  const hint = opts.hint ? h('p.hint', {id: `${input.id}-hint`}, opts.hint) : null;
  const described = [hint && hint.id, err.id].filter(Boolean).join(' ');
  input.setAttribute('aria-describedby', described);
  const wrap = h('div.field', {dataset: opts.field ? {field: opts.field} : {}},
    h('label', {for: input.id}, label), input, hint, err);
  return wrap;
}

/** A checkbox with its label after it; opts.id names the input. */
export function checkbox(label, checked, opts = {}) {
  const input = h('input', {type: 'checkbox', checked: !!checked, id: opts.id || uid(), name: opts.name});
  const hint = opts.hint ? h('p.hint', {id: `${input.id}-hint`}, opts.hint) : null;
  if (hint) input.setAttribute('aria-describedby', hint.id);
  const wrap = h('div.check', {dataset: opts.field ? {field: opts.field} : {}},
    input, h('label', {for: input.id}, label), hint);
  return {wrap, input};
}

export function select(options, value) {
  const s = h('select');
  for (const o of options) {
    const [v, label] = Array.isArray(o) ? o : [o, o];
    s.appendChild(h('option', {value: v, selected: v === value}, label));
  }
  s.value = value ?? (options.length ? (Array.isArray(options[0]) ? options[0][0] : options[0]) : '');
  return s;
}

/**
 * Shows the API's field errors next to the fields of form: each error's
 * field (a path such as cors_headers.allowed_origins[0]) is matched to the
 * nearest [data-field] container by prefix. Returns the errors that no
 * field claimed. The first bad field gets the focus (and its tab is shown)
 * unless opts.focus is false, as for checks that run while the user types.
 */
export function showFieldErrors(form, errors, opts = {}) {
  clearFieldErrors(form);
  const fields = [...form.querySelectorAll('[data-field]')];
  const rest = [];
  let first = null;
  for (const e of errors || []) {
    if (!e.field) { rest.push(e); continue; }
    const path = e.field;
    let best = null;
    let bestLen = -1;
    for (const f of fields) {
      for (const name of f.dataset.field.split(' ')) {
        if ((path === name || path.startsWith(name + '.') || path.startsWith(name + '[')) && name.length > bestLen) {
          best = f;
          bestLen = name.length;
        }
      }
    }
    if (!best) { rest.push(e); continue; }
    best.classList.add('invalid');
    const msgEl = best.querySelector(':scope > .field-error') || best.querySelector('.field-error') || best.appendChild(h('p.field-error'));
    msgEl.hidden = false;
    const msg = e.message.startsWith(path + ': ') ? e.message.slice(path.length + 2) : e.message;
    msgEl.textContent = (msgEl.textContent ? msgEl.textContent + ' ' : '') + msg;
    const ctl = best.querySelector('input, select, textarea');
    if (ctl) ctl.setAttribute('aria-invalid', 'true');
    if (!first) first = best;
  }
  if (first && opts.focus !== false) {
    form.dispatchEvent(new CustomEvent('fielderror', {detail: first}));
    const ctl = first.querySelector('input, select, textarea');
    if (ctl) ctl.focus();
  }
  return rest;
}

export function clearFieldErrors(form) {
  for (const f of form.querySelectorAll('.invalid')) f.classList.remove('invalid');
  for (const m of form.querySelectorAll('.field-error')) { m.textContent = ''; m.hidden = true; }
  for (const c of form.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
}

/**
 * Shows why a save failed: the API's field errors (err.errors) next to the
 * fields of form, and whatever no field claims, or err itself, in box.
 */
export function showFormError(form, box, err) {
  const rest = err && Array.isArray(err.errors) && err.errors.length ? showFieldErrors(form, err.errors) : [err];
  if (rest.length) box.append(errorBox(rest.map((x) => x.message || String(x)).join('; ')));
}

/** Lines of a textarea, trimmed, without empty ones. */
export function lines(text) {
  return text.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
}

/**
 * wrap, a box around a wide table, becomes a named region in the tab
 * order while it scrolls sideways, so that keyboard users can scroll it
 * too (WCAG 2.1.1); otherwise it stays out of the tab order.
 */
export function scrollRegion(wrap, label) {
  const sync = () => {
    if (wrap.scrollWidth > wrap.clientWidth + 1) {
      wrap.tabIndex = 0;
      wrap.setAttribute('role', 'region');
      wrap.setAttribute('aria-label', `${label} (scrolls sideways)`);
    } else {
      wrap.removeAttribute('tabindex');
      wrap.removeAttribute('role');
      wrap.removeAttribute('aria-label');
    }
  };
  new ResizeObserver(sync).observe(wrap);
  return wrap;
}

/** A table with a header row; rows are arrays of cells. */
export function table(caption, headers, rows, empty = 'Nothing here yet.') {
  if (!rows.length) return h('p.empty', empty);
  return scrollRegion(h('div.table-wrap', h('table',
    caption ? h('caption.visually-hidden', caption) : null,
    h('thead', h('tr', headers.map((x) => h('th', {scope: 'col'}, x)))),
    h('tbody', rows.map((r) => r instanceof Node ? r : h('tr', r.map((c) => h('td', c))))))), caption || 'Table');
}

export function badge(text, kind = '') { return h(`span.badge${kind ? '.' + kind : ''}`, text); }

/**
 * A paged list in out: fetchPage(page) resolves to the API's list and
 * result_info ({result, info}), draw(result) makes the content, and a
 * pager under it turns the pages. Returns show(page = 1), which loads a
 * page; a failure shows in out.
 */
export function pagedList(out, what, fetchPage, draw) {
  const show = async (page = 1) => {
    clear(out).append(loading(`Loading ${what}`));
    try {
      const {result, info} = await fetchPage(page);
      clear(out).append(draw(result), pager(info, show));
    } catch (e) { clear(out).append(errorBox(e)); }
  };
  return show;
}

/** Previous/next pagination from result_info. */
export function pager(info, go) {
  if (!info || info.total_pages <= 1) return document.createTextNode('');
  const prev = h('button.btn.small', {type: 'button', disabled: info.page <= 1, on: {click: () => go(info.page - 1)}}, '← Previous');
  const next = h('button.btn.small', {type: 'button', disabled: info.page >= info.total_pages, on: {click: () => go(info.page + 1)}}, 'Next →');
  return h('nav.pager', {'aria-label': 'Pages'}, prev, h('span', `Page ${info.page} of ${info.total_pages} (${info.total_count} in all)`), next);
}
