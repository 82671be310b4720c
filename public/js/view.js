// The task list: keyed rows, drawn once per animation frame for what changed.
//
// Cost per pushed event: a Set insert (the id is marked dirty). Per frame, for k dirty rows:
// redraw those k rows (text/attribute writes only where the value changed). Per reorder (every
// frame in a short list, at most once a second in a long one, see MOVE_EVERY_MS), for each row
// whose sort key changed: one binary search in the sorted `order` array plus one DOM move
// (insertBefore its new neighbour). Nothing is ever sorted per event; the full sort happens
// only on a snapshot or when the user picks another sort. Filters toggle `hidden` on a row;
// a filter change walks the rows once. Relative times ("42 s ago", elapsed, the deadline
// countdown) are refreshed every second only for rows on screen (an IntersectionObserver keeps
// that set). A selection change redraws only the checkboxes of the rows it changed.

import { state, STATUSES, TERMINAL } from './store.js';
import { allowed, ACTIONS } from './api.js';
import { formatNumber, formatDuration, formatAgo, formatRate, formatClock, parseTime } from './format.js';
import { countdownOf, deadlineFailure, formatSpan } from './deadline.js';

export const heraldStats = { events: 0, frames: 0, renderMsTotal: 0, maxRenderMs: 0, longTasks: 0, rows: 0, moves: 0 };

const $ = (sel) => document.querySelector(sel);

let list, template, emptyEl, noMatchEl, shownEl;
let actions = null;
let detail = null;
let mayAct = () => true;          // (task, action) → the token's role allows it (js/auth.js)
let selection = null;             // js/selection.js
let refusedOf = () => null;       // id → why the last batch action refused it, or null
let conn = { state: 'offline', text: 'connecting…' };

const rows = new Map();           // id → rec {id, el, parts…, k1, k2, shown}
const byEl = new WeakMap();       // row element → rec (IntersectionObserver, clicks)
let order = [];                   // recs in display order
const onScreen = new Set();       // recs intersecting the viewport (±margin)
let io = null;

let sortMode = 'recent';
const filter = { status: '', owner: '', q: '' };
let shownCount = 0;

const dirty = new Set();
const dirtySelection = new Set();
let dirtyAll = false, dirtyHeader = false, dirtyFilter = false, dirtySort = false, dirtyDetail = false;
let frame = 0;

function schedule() { if (!frame) frame = requestAnimationFrame(render); }
export function markTask(id) { dirty.add(id); dirtyHeader = true; if (detail && detail.id === id) dirtyDetail = true; schedule(); }
export function markAll() { dirtyAll = true; dirtyHeader = true; dirtyDetail = true; schedule(); }
export function markHeader() { dirtyHeader = true; schedule(); }
export function markDetail() { dirtyDetail = true; schedule(); }
export function setConn(c) { conn = c; dirtyHeader = true; schedule(); }
/** The selection of these rows changed (checkboxes only). */
export function markSelection(ids) { for (const id of ids) dirtySelection.add(id); schedule(); }

// ------------------------------------------------------------------ sort keys

// recent: the most recently changed first (seq is the authority's change counter).
// eta: soonest finish first; then unfinished tasks without an ETA; then finished ones.
function keysOf(t) {
  const k2 = -(typeof t.seq === 'number' ? t.seq : 0);
  if (sortMode === 'eta') {
    let k1;
    if (TERMINAL.has(t.status)) k1 = 2e15;
    else if (typeof t.eta_s === 'number' && Number.isFinite(t.eta_s)) k1 = t.eta_s;
    else k1 = 1e15;
    return [k1, k2];
  }
  return [k2, 0];
}

function cmp(a, b) {
  if (a.k1 !== b.k1) return a.k1 < b.k1 ? -1 : 1;
  if (a.k2 !== b.k2) return a.k2 < b.k2 ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function lowerBound(probe) {
  let lo = 0, hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cmp(order[mid], probe) < 0) lo = mid + 1; else hi = mid;
  }
  return lo;
}

function indexOfRec(rec) {
  const i = lowerBound(rec);
  if (order[i] === rec) return i;
  return order.indexOf(rec);        // never expected; keeps the list right if it happens
}

function place(rec) {
  rec.placed = true;
  const i = lowerBound(rec);
  order.splice(i, 0, rec);
  const next = order[i + 1];
  const before = next ? next.el : null;
  if (rec.el.parentNode !== list || rec.el.nextElementSibling !== before) {
    list.insertBefore(rec.el, before);
    heraldStats.moves += 1;
  }
}

function unplace(rec) {
  if (!rec.placed) return;
  rec.placed = false;
  const i = indexOfRec(rec);
  if (i >= 0) order.splice(i, 1);
}

// ------------------------------------------------------------------ filters

function matches(t) {
  if (filter.status && t.status !== filter.status) return false;
  if (filter.owner && (t.owner || '').toLowerCase() !== filter.owner) return false;
  if (filter.q) {
    const q = filter.q;
    if (!(t.title || '').toLowerCase().includes(q) && !t.id.toLowerCase().includes(q)
        && !(t.message || '').toLowerCase().includes(q)) return false;
  }
  return true;
}

function applyFilter(rec, t) {
  const show = matches(t);
  if (show !== rec.shown) {
    rec.shown = show;
    rec.el.hidden = !show;
    shownCount += show ? 1 : -1;
    if (!show && selection && selection.has(rec.id)) selection.drop([rec.id]);   // only shown rows stay selected
  }
}

export function setFilter(next) {
  Object.assign(filter, next);
  filter.owner = (filter.owner || '').trim().toLowerCase();
  filter.q = (filter.q || '').trim().toLowerCase();
  dirtyFilter = true; dirtyHeader = true;
  schedule();
}

export function setSort(mode) {
  sortMode = mode === 'eta' ? 'eta' : 'recent';
  dirtySort = true;
  schedule();
}

export function filtersActive() { return !!(filter.status || filter.owner || filter.q); }

/** Ids of the rows shown under the current filters, top to bottom (rows not yet placed in a
 * long list come last). */
export function shownIds() {
  const out = [];
  for (const rec of order) if (rec.shown && rows.get(rec.id) === rec) out.push(rec.id);
  if (out.length < shownCount) for (const rec of rows.values()) if (rec.shown && !rec.placed) out.push(rec.id);
  return out;
}

/** Ids of the failed rows shown (for "Retry all failed" with a search). */
export function shownFailedIds() {
  const out = [];
  for (const rec of rows.values()) if (rec.shown && state.tasks.get(rec.id)?.status === 'failed') out.push(rec.id);
  return out;
}

export function shownTotal() { return shownCount; }

// ------------------------------------------------------------------ rows

function makeRow(t) {
  const el = template.content.firstElementChild.cloneNode(true);
  el.dataset.taskId = t.id;
  const q = (s) => el.querySelector(s);
  const rec = {
    id: t.id, el, k1: 0, k2: 0, shown: true, placed: false,
    title: q('.title'), idEl: q('.id'), owner: q('.owner'), attempt: q('.attempt'),
    chip: q('.chip'), hb: q('.hb-ago'), bar: q('.bar'), fill: q('.fill'), percent: q('.percent'),
    check: q('.row-select'), deadline: q('.deadline'), refused: q('.refused-badge'),
    message: q('.message'), done: q('.done-total'), rate: q('.rate'), eta: q('.eta'), elapsed: q('.elapsed'),
    buttons: {
      cancel: q('[data-action="cancel"]'), retry: q('[data-action="retry"]'), delete: q('[data-action="delete"]'),
    },
    details: q('[data-action="details"]'), error: q('.row-error'),
    // values last written, so an unchanged field costs no DOM write; the template's own state
    // to start with (unselected, not refused, no countdown): 5,000 new rows write none of it
    last: { selected: false, refused: null, deadline: '', deadlineSig: '' },
  };
  byEl.set(el, rec);
  shownCount += 1;
  heraldStats.rows += 1;
  if (io) io.observe(el);
  return rec;
}

function dropRow(rec) {
  unplace(rec);
  rec.el.remove();
  if (io) io.unobserve(rec.el);
  onScreen.delete(rec);
  moves.delete(rec);
  if (rec.shown) shownCount -= 1;
  rows.delete(rec.id);
  if (selection && selection.has(rec.id)) selection.drop([rec.id]);
  heraldStats.rows -= 1;
}

function setText(rec, key, el, text) {
  if (rec.last[key] !== text) { rec.last[key] = text; el.textContent = text; }
}

function percentOf(t) {
  if (typeof t.percent === 'number') return Math.min(100, Math.max(0, t.percent));
  if (t.status === 'succeeded') return 100;
  return null;
}

function drawRow(rec, t) {
  const el = rec.el;
  if (rec.last.status !== t.status) { rec.last.status = t.status; el.dataset.status = t.status; }
  const stale = t.stale ? 'true' : 'false';
  if (rec.last.stale !== stale) { rec.last.stale = stale; el.dataset.stale = stale; }
  const title = t.title || '(untitled)';
  setText(rec, 'title', rec.title, title);
  if (rec.last.titleAttr !== title) {
    rec.last.titleAttr = title; rec.title.title = title;
    rec.bar.setAttribute('aria-label', `Progress of ${title}`); rec.details.setAttribute('aria-label', `Details of ${title}`);
    rec.check.setAttribute('aria-label', `Select ${title}`);
  }
  setText(rec, 'id', rec.idEl, t.id);
  setText(rec, 'owner', rec.owner, t.owner || '');
  setText(rec, 'attempt', rec.attempt, t.attempt > 1 ? `attempt ${t.attempt}` : '');
  setText(rec, 'chip', rec.chip, t.status);

  const pct = percentOf(t);
  const shown = pct === null ? null : Math.round(pct * 10) / 10;
  if (rec.last.pct !== shown) {
    rec.last.pct = shown;
    if (shown === null) {
      rec.bar.removeAttribute('aria-valuenow');
      rec.bar.dataset.indeterminate = 'true';
      rec.fill.style.transform = '';
    } else {
      rec.bar.setAttribute('aria-valuenow', String(shown));
      rec.bar.dataset.indeterminate = 'false';
      rec.fill.style.transform = `scaleX(${pct / 100})`;
    }
  }
  setText(rec, 'percent', rec.percent, shown === null ? '' : `${formatNumber(shown)}%`);

  // A failed task says why: a deadline in words ("timed out after 1 h"), else the worker's
  // code and message; the full error is on hover.
  let message = t.message || '', hover = message;
  if (t.status === 'failed' && t.error) {
    hover = `${t.error.code}${t.error.message ? ': ' + t.error.message : ''}`;
    message = deadlineFailure(t) || hover;
  }
  if (rec.last.message !== message || rec.last.messageTitle !== hover) {
    rec.last.message = message; rec.last.messageTitle = hover;
    rec.message.textContent = message; rec.message.title = hover;
  }

  const hasTotal = typeof t.total === 'number';
  setText(rec, 'done', rec.done, hasTotal ? `${formatNumber(t.done)} / ${formatNumber(t.total)}`
    : (t.done ? `${formatNumber(t.done)} done` : ''));
  const active = !TERMINAL.has(t.status);
  setText(rec, 'rate', rec.rate, active && typeof t.rate === 'number' && t.rate > 0 ? formatRate(t.rate) : '');

  drawActions(rec, t);
  drawSelected(rec);
  drawTimes(rec, t, Date.now());
}

function drawSelected(rec) {
  const on = !!selection && selection.has(rec.id);
  if (rec.last.selected === on) return;
  rec.last.selected = on;
  rec.check.checked = on;
  rec.el.dataset.selected = String(on);
}

function drawActions(rec, t) {
  const p = actions ? actions.pendingOf(t.id) : null;
  for (const [name, btn] of Object.entries(rec.buttons)) {
    const spec = ACTIONS[name];
    let hidden, disabled, label;
    if (p && p.action === name) { hidden = false; disabled = true; label = spec.pending; }
    else { hidden = !allowed(name, t.status) || !mayAct(t, name); disabled = !!p; label = spec.label; }
    const sig = `${hidden}|${disabled}|${label}`;
    if (rec.last[`btn-${name}`] === sig) continue;
    rec.last[`btn-${name}`] = sig;
    btn.hidden = hidden;
    btn.disabled = disabled;
    btn.textContent = label;
    if (disabled && p && p.action === name) btn.setAttribute('aria-busy', 'true'); else btn.removeAttribute('aria-busy');
  }
  const refused = refusedOf(t.id);
  if (rec.last.refused !== refused) {
    rec.last.refused = refused;
    rec.refused.hidden = !refused;
    rec.refused.title = refused || '';
    if (refused) rec.el.dataset.refused = 'true'; else delete rec.el.dataset.refused;
  }
  const err = actions ? actions.errorOf(t.id) : null;
  const text = err ? err.message : '';
  if (rec.last.error !== text) {
    rec.last.error = text;
    rec.error.querySelector('.row-error-text').textContent = text;
    rec.error.hidden = !err;
  }
}

/** "last heartbeat 42 s ago" and elapsed time: from the stamps, against the clock. */
function drawTimes(rec, t, now) {
  const hb = t.stale ? `last heartbeat ${formatAgo(t.last_heartbeat_at || t.heartbeat_at || t.updated_at, now) || 'unknown'}` : '';
  setText(rec, 'hb', rec.hb, hb);
  const started = parseTime(t.started_at);
  let elapsed = '';
  if (started !== null) {
    const end = TERMINAL.has(t.status) ? (parseTime(t.finished_at) ?? parseTime(t.updated_at) ?? now) : now;
    elapsed = `${formatDuration((end - started) / 1000)} ${TERMINAL.has(t.status) ? 'total' : 'elapsed'}`;
  }
  setText(rec, 'elapsed', rec.elapsed, elapsed);
  // The server's ETA is as of the last report; count it down between reports (a worker that
  // went quiet shows the stale badge once its lease is over).
  let eta = '';
  if (!TERMINAL.has(t.status) && typeof t.eta_s === 'number') {
    const since = (now - (parseTime(t.updated_at) ?? now)) / 1000;
    const left = t.eta_s - Math.max(0, since);
    eta = left >= 1 ? `ETA ${formatDuration(left)}` : 'ETA <1 s';
  }
  setText(rec, 'eta', rec.eta, eta);
  drawDeadline(rec, t, now);
}

/** "times out in 12 min" / "stalls in 40 s": the nearer deadline of a running task. */
function drawDeadline(rec, t, now) {
  const cd = countdownOf(t, now);
  setText(rec, 'deadline', rec.deadline, cd ? cd.text : '');
  const sig = cd ? `${cd.kind}|${cd.at}|${cd.soon}|${cd.due}` : '';
  if (rec.last.deadlineSig === sig) return;
  rec.last.deadlineSig = sig;
  const d = rec.deadline;
  d.hidden = !cd;
  if (!cd) return;
  d.dataset.kind = cd.kind;
  d.dataset.soon = String(cd.soon || cd.due);
  d.title = cd.kind === 'timeout'
    ? `Fails with "timeout" at ${formatClock(new Date(cd.at).toISOString())}: ${formatSpan(t.timeout_s)} after it started`
    : `Fails with "stalled" at ${formatClock(new Date(cd.at).toISOString())} unless done, percent or message changes (stall_s ${formatSpan(t.stall_s)})`;
}

// ------------------------------------------------------------------ the frame

function render() {
  frame = 0;
  const t0 = performance.now();
  if (dirtyAll) {
    dirtyAll = false; dirtySort = false; dirtyFilter = false;
    dirty.clear();
    for (const rec of [...rows.values()]) if (!state.tasks.has(rec.id)) dropRow(rec);
    for (const t of state.tasks.values()) {
      let rec = rows.get(t.id);
      if (!rec) { rec = makeRow(t); rows.set(t.id, rec); }
      drawRow(rec, t);
      applyFilter(rec, t);
    }
    resortAll();
  } else {
    if (dirtySort) { dirtySort = false; resortAll(); }
    if (dirtyFilter) {
      dirtyFilter = false;
      for (const rec of rows.values()) {
        const t = state.tasks.get(rec.id);
        if (t) applyFilter(rec, t);
      }
    }
    for (const id of dirty) {
      const t = state.tasks.get(id);
      let rec = rows.get(id);
      if (!t) { if (rec) dropRow(rec); continue; }
      if (!rec) {
        rec = makeRow(t);
        rows.set(id, rec);
        moves.add(rec);             // placed with the next reorder (now, in a short list)
      } else {
        const [k1, k2] = keysOf(t);
        if (k1 !== rec.k1 || k2 !== rec.k2) moves.add(rec);
      }
      drawRow(rec, t);
      applyFilter(rec, t);
    }
    dirty.clear();
  }
  for (const id of dirtySelection) { const rec = rows.get(id); if (rec) drawSelected(rec); }
  dirtySelection.clear();
  if (moves.size && !dirtyAll) {
    applyMoves(t0);
  }
  if (dirtyHeader) { dirtyHeader = false; drawHeader(); }
  if (dirtyDetail && detail) { dirtyDetail = false; detail.draw(); }
  const ms = performance.now() - t0;
  heraldStats.frames += 1;
  heraldStats.renderMsTotal += ms;
  if (ms > heraldStats.maxRenderMs) heraldStats.maxRenderMs = ms;
}

// Moving a row costs little script, but the browser then lays out, pre-paints and
// re-checks visibility of every row after it: with 5,000 rows that is tens of ms per frame
// however few rows moved. So in a long list moves are gathered and applied together at most
// every MOVE_EVERY_MS (rows still redraw their content every frame; new rows join the list
// then); a short list moves rows in the frame their key changed.
const LONG_LIST = 1000;
const MOVE_EVERY_MS = 1000;
const moves = new Set();          // recs whose sort key changed since the last reorder
let lastMovesAt = 0, moveTimer = 0;

function applyMoves(now) {
  if (rows.size > LONG_LIST && now - lastMovesAt < MOVE_EVERY_MS) {
    if (!moveTimer) moveTimer = setTimeout(() => { moveTimer = 0; schedule(); }, MOVE_EVERY_MS - (now - lastMovesAt));
    return;
  }
  lastMovesAt = now;
  for (const rec of moves) {
    const t = state.tasks.get(rec.id);
    if (!t || !rows.has(rec.id)) continue;
    const [k1, k2] = keysOf(t);
    if (rec.placed && k1 === rec.k1 && k2 === rec.k2) continue;
    unplace(rec);
    rec.k1 = k1; rec.k2 = k2;
    place(rec);
  }
  moves.clear();
}

function resortAll() {
  moves.clear();
  order = [...rows.values()];
  for (const rec of order) {
    rec.placed = true;
    const t = state.tasks.get(rec.id);
    [rec.k1, rec.k2] = t ? keysOf(t) : [Infinity, Infinity];   // removed this frame: dropped below
  }
  order.sort(cmp);
  // Move only what is out of place: walking backwards, each row must precede the one placed
  // after it. After a snapshot most rows are already in order, so few DOM moves happen.
  let after = null;
  for (let i = order.length - 1; i >= 0; i -= 1) {
    const el = order[i].el;
    if (el.parentNode !== list || el.nextElementSibling !== after) { list.insertBefore(el, after); heraldStats.moves += 1; }
    after = el;
  }
}

const countEls = new Map();
function drawHeader() {
  for (const s of STATUSES) {
    let el = countEls.get(s);
    if (!el) { el = document.querySelector(`[data-count="${s}"]`); countEls.set(s, el); }
    const text = String(state.counts[s] || 0);
    if (el && el.textContent !== text) el.textContent = text;
  }
  const total = STATUSES.reduce((n, s) => n + (state.counts[s] || 0), 0);
  const c = $('#conn');
  if (c.dataset.state !== conn.state) c.dataset.state = conn.state;
  const ct = c.querySelector('.conn-text');
  if (ct.textContent !== conn.text) ct.textContent = conn.text;
  const srv = document.documentElement.dataset.server || '';
  const se = $('#conn-server');
  if (se && se.textContent !== srv) se.textContent = srv;
  emptyEl.hidden = state.tasks.size > 0;
  noMatchEl.hidden = !(state.tasks.size > 0 && shownCount === 0);
  const shownText = filtersActive()
    ? `${formatNumber(shownCount)} of ${formatNumber(rows.size)} shown`
    : `${formatNumber(rows.size)} shown${total > rows.size ? ` · ${formatNumber(total)} in all` : ''}`;
  if (shownEl.textContent !== shownText) shownEl.textContent = shownText;
}

function tick() {
  const now = Date.now();
  for (const rec of onScreen) {
    const t = state.tasks.get(rec.id);
    if (t) drawTimes(rec, t, now);
  }
  if (detail) detail.tick(now);
}

// ------------------------------------------------------------------ set-up

export function initView({ actionsController, detailPanel, onOpenDetail, mayAct: may, selection: sel, refusedOf: refused }) {
  if (may) mayAct = may;
  if (sel) selection = sel;
  if (refused) refusedOf = refused;
  list = $('#tasks');
  template = $('#row-template');
  emptyEl = $('#empty');
  noMatchEl = $('#no-match');
  shownEl = $('#shown');
  actions = actionsController;
  detail = detailPanel;

  if ('IntersectionObserver' in window) {
    io = new IntersectionObserver((entries) => {
      const now = Date.now();
      for (const e of entries) {
        const rec = byEl.get(e.target);
        if (!rec) continue;
        if (e.isIntersecting) {
          onScreen.add(rec);
          const t = state.tasks.get(rec.id);
          if (t) drawTimes(rec, t, now);
        } else onScreen.delete(rec);
      }
    }, { rootMargin: '300px 0px' });
  }
  setInterval(tick, 1000);

  list.addEventListener('click', (ev) => {
    const row = ev.target.closest('[data-task-id]');
    if (!row) return;
    const id = row.dataset.taskId;
    if (ev.target.classList.contains('row-select')) {
      // the checkbox has already toggled; shift extends from the last one clicked
      selection.toggle(id, ev.target.checked, { range: ev.shiftKey, order: ev.shiftKey ? shownIds() : null });
      return;
    }
    const btn = ev.target.closest('button[data-action]');
    if (btn) {
      const a = btn.dataset.action;
      if (a === 'details') onOpenDetail(id, btn);
      else if (a === 'dismiss-error') actions.dismissError(id);
      else if (ACTIONS[a]) actions.run(id, a);
      return;
    }
    if (ev.target.closest('.title')) onOpenDetail(id, row.querySelector('[data-action="details"]'));
  });

  if ('PerformanceObserver' in window && (PerformanceObserver.supportedEntryTypes || []).includes('longtask')) {
    try {
      new PerformanceObserver((l) => { heraldStats.longTasks += l.getEntries().length; })
        .observe({ type: 'longtask', buffered: true });
    } catch { /* not supported */ }
  }
}
