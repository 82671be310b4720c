// The batch bar in the task list's head: the select-all box, "N selected", "Cancel selected",
// "Retry selected", "Retry all failed", and the result of the last batch — a summary line
// ("18 retried, 2 refused: 2 are running (409)"), the refused rows marked (a "refused" badge
// whose tooltip says why) and listed with their reasons. Tasks that went through leave the
// selection; refused ones stay selected, so the person sees which they were.
//
// What the role cannot do is not offered (js/auth.js can(role, action)). Nothing is applied from
// the answer: the rows change by the pushed events, as for single actions.

import { sendBatch, summarize, retryFailedPlan } from './batch.js';
import { allowed } from './api.js';
import { state } from './store.js';
import { formatNumber } from './format.js';

/** Refused items listed under the summary (the rest are counted). */
export const REFUSED_LISTED = 50;
const REFRESH_MS = 250;
const VERB = { cancel: ['Cancel selected', 'Cancelling'], retry: ['Retry selected', 'Retrying'] };

export const batchStats = { requests: 0, lastBody: null, lastSummary: null };

export function createBatchBar({ server, selection, view, can, mayAct, scope, failedCount, onOpen }) {
  const $ = (s) => document.querySelector(s);
  const all = $('#select-all');
  const bar = $('#batch-bar');
  const countEl = $('#selected-count');
  const buttons = { cancel: $('[data-batch="cancel"]'), retry: $('[data-batch="retry"]') };
  const retryFailed = $('[data-batch="retry-failed"]');
  const summary = $('#batch-summary');
  const summaryText = summary.querySelector('.batch-text');
  const toggle = summary.querySelector('[data-batch="toggle-refused"]');
  const list = $('#batch-refused');
  const refused = new Map();        // id → reason (the last batch's refusals)
  let pending = null;               // {op, n} while a request is out
  let timer = 0;

  const selectable = can('cancel') || can('retry');
  document.body.classList.toggle('no-select', !selectable);
  buttons.cancel.hidden = !can('cancel');
  buttons.retry.hidden = !can('retry');

  /** The selection's part of the bar: cheap (only shown rows are ever selected, so "all
   * selected" is a size comparison), drawn at once on every selection change. */
  function drawSelection() {
    const n = selection.size, shown = view.shownTotal();
    all.checked = n > 0 && n === shown;
    all.indeterminate = n > 0 && n < shown;
    all.disabled = shown === 0 || !!pending;
    bar.hidden = n === 0 && !pending;
    const text = pending ? `${VERB[pending.op][1]} ${formatNumber(pending.n)}…` : `${formatNumber(n)} selected`;
    if (countEl.textContent !== text) countEl.textContent = text;
    for (const [op, btn] of Object.entries(buttons)) {
      // enabled when at least one selected task can take the action (the server still decides
      // for each: what the page thinks may be a moment old)
      let eligible = 0;
      for (const id of selection.list()) {
        const t = state.tasks.get(id);
        if (t && allowed(op, t.status) && mayAct(t, op)) { eligible += 1; break; }
      }
      btn.disabled = !!pending || !eligible;
      btn.title = eligible ? '' : `None of the selected tasks can be ${op === 'cancel' ? 'cancelled' : 'retried'} now`;
    }
  }

  /** "Retry all failed (N)": what the view's failed tasks are (batch.js retryFailedPlan). */
  function plan() {
    if (!can('retry')) return null;
    return retryFailedPlan(scope(), () => view.shownFailedIds(), failedCount());
  }

  function drawRetryFailed() {
    const p = plan();
    const show = !!p && (p.count === null || p.count > 0);
    retryFailed.hidden = !show;
    if (!show) return;
    retryFailed.disabled = !!pending;
    const label = p.count === null ? 'Retry all failed' : `Retry all failed (${formatNumber(p.count)})`;
    if (retryFailed.textContent !== label) retryFailed.textContent = label;
    retryFailed.dataset.mode = p.body.ids ? 'ids' : 'filter';
    retryFailed.title = p.body.ids
      ? `Retry the ${p.count} failed tasks shown (the search narrows the view, so exactly these are sent)`
      : `Retry every failed task${p.scope ? ` ${p.scope}` : ''} the server holds, including any not listed on this page`;
  }

  function draw() { drawSelection(); drawRetryFailed(); }

  /** Counts, filters or rows changed: redrawn at most every REFRESH_MS. */
  function refresh() {
    if (timer) return;
    timer = setTimeout(() => { timer = 0; draw(); }, REFRESH_MS);
  }

  function clearRefused() {
    const ids = [...refused.keys()];
    refused.clear();
    for (const id of ids) view.markTask(id);
  }

  function showSummary(sum, result) {
    summary.hidden = false;
    summary.dataset.result = result;
    summary.dataset.ok = String(sum ? sum.ok.length : 0);
    summary.dataset.refused = String(sum ? sum.refused.length : 0);
    toggle.hidden = !sum || !sum.refused.length;
    toggle.setAttribute('aria-expanded', 'false');
    toggle.textContent = 'Show refused';
    list.hidden = true;
    if (!sum || !sum.refused.length) { list.replaceChildren(); return; }
    const items = sum.refused.slice(0, REFUSED_LISTED).map((r) => {
      const li = document.createElement('li');
      li.dataset.refusedId = r.id;
      const t = state.tasks.get(r.id);
      const open = document.createElement('button');
      open.type = 'button';
      open.className = 'link-btn';
      open.dataset.open = r.id;
      open.textContent = t ? t.title || r.id : r.id;
      const id = document.createElement('code');
      id.textContent = r.id;
      const why = document.createElement('span');
      why.className = 'refused-reason';
      why.textContent = r.reason;
      li.append(open, ' ', id, ' ', why);
      return li;
    });
    if (sum.refused.length > REFUSED_LISTED) {
      const li = document.createElement('li');
      li.textContent = `and ${formatNumber(sum.refused.length - REFUSED_LISTED)} more`;
      items.push(li);
    }
    list.replaceChildren(...items);
  }

  async function send(op, body, n) {
    if (pending) return;
    pending = { op, n };
    clearRefused();
    draw();
    batchStats.requests += 1;
    batchStats.lastBody = body;
    try {
      const results = await sendBatch(() => server(), body);
      const sum = summarize(op, results, (id) => state.tasks.get(id));
      batchStats.lastSummary = sum;
      selection.drop(sum.ok);
      for (const r of sum.refused) { refused.set(r.id, r.reason); view.markTask(r.id); }
      summaryText.textContent = sum.text;
      showSummary(sum, sum.refused.length ? (sum.ok.length ? 'partial' : 'refused') : 'ok');
    } catch (err) {
      const what = body.ids ? `${op} the selected tasks` : 'retry all failed tasks';
      summaryText.textContent = `Could not ${what}: ${err.message}${err.status ? ` (${err.status})` : ''}`;
      batchStats.lastSummary = { error: err.message, status: err.status || 0 };
      showSummary(null, 'error');
    } finally {
      pending = null;
      draw();
    }
  }

  all.addEventListener('change', () => {
    if (all.checked) selection.set(view.shownIds(), true); else selection.clear();
  });
  for (const op of Object.keys(buttons)) {
    buttons[op].addEventListener('click', () => {
      const ids = selection.list(view.shownIds());
      if (ids.length) send(op, { op, ids }, ids.length);
    });
  }
  bar.querySelector('[data-batch="clear"]').addEventListener('click', () => { selection.clear(); all.focus(); });
  retryFailed.addEventListener('click', () => {
    const p = plan();
    if (p) send('retry', p.body, p.count ?? (p.body.ids ? p.body.ids.length : 0));
  });
  summary.addEventListener('click', (ev) => {
    const b = ev.target.closest('button');
    if (!b) return;
    if (b.dataset.batch === 'dismiss') {
      summary.hidden = true;
      clearRefused();
      all.focus();
    } else if (b.dataset.batch === 'toggle-refused') {
      const open = list.hidden;
      list.hidden = !open;
      b.setAttribute('aria-expanded', String(open));
      b.textContent = open ? 'Hide refused' : 'Show refused';
    } else if (b.dataset.open) {
      onOpen(b.dataset.open, b);
    }
  });

  draw();
  // A filter that hides many selected rows drops them one by one within a frame: one draw.
  let selectionDue = false;
  function selectionChanged() {
    if (selectionDue) return;
    selectionDue = true;
    queueMicrotask(() => { selectionDue = false; drawSelection(); });
  }

  return {
    selectionChanged,
    refresh,
    refusedOf: (id) => refused.get(id) || null,
    get pending() { return pending; },
  };
}
