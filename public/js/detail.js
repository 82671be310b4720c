// The task detail panel (aside#detail): every field of the task, meta, the error, the result,
// and a timeline of the task's events — those this page saw since load, plus its earlier
// history, asked for on the same socket: subscribe to `task:<id>` with a low `since`; when
// the server's history still reaches back it answers `resumed` and the older events (merged
// by seq), otherwise a snapshot (ignored); then unsubscribe.

import { state, timelineOf, TERMINAL } from './store.js';
import { allowed, ACTIONS } from './api.js';
import { formatNumber, formatDuration, formatAgo, formatRate, formatClock, parseTime } from './format.js';
import { deadlinesOf, deadlineFailure, formatSpan, formatLeft } from './deadline.js';

// Shown in this order; any other field the task JSON carries is appended after them.
const FIELDS = ['id', 'title', 'owner', 'status', 'stale', 'done', 'total', 'percent', 'message', 'rate', 'eta_s',
  'attempt', 'lease_s', 'expire_s', 'timeout_s', 'stall_s', 'created_at', 'started_at', 'updated_at', 'progress_at',
  'heartbeat_at', 'last_heartbeat_at', 'finished_at', 'seq'];
const BLOCKS = new Set(['meta', 'error', 'result']);   // shown as their own sections
const STAMP = /_at$/;

export function createDetail({ actions, send, conn, onClose, onOpen, mayAct = () => true }) {
  const aside = document.getElementById('detail');
  const fieldsEl = document.getElementById('detail-fields');
  const timelineEl = document.getElementById('detail-timeline');
  const noteEl = document.getElementById('detail-history-note');
  const titleEl = document.getElementById('detail-title');
  const goneEl = document.getElementById('detail-gone');
  const bar = aside.querySelector('.bar');
  const fill = aside.querySelector('.fill');
  const pctEl = aside.querySelector('.detail-percent');
  const chip = document.getElementById('detail-chip');
  const errBox = document.getElementById('detail-action-error');
  const buttons = Object.fromEntries([...aside.querySelectorAll('[data-detail-action]')].map((b) => [b.dataset.detailAction, b]));
  const fieldEls = new Map();     // name → {value, hint, row}
  let id = null;
  let opener = null;
  let task = null;                // the last task drawn (kept after a removal)
  let timelineFor = null;
  let timelineDirty = false;      // history merged: rebuild instead of append
  let history = null;             // {id, candidates:[since…], phase}

  function fieldEl(name) {
    let f = fieldEls.get(name);
    if (f) return f;
    const row = document.createElement('div');
    row.className = 'field';
    const dt = document.createElement('dt');
    dt.textContent = name;
    const dd = document.createElement('dd');
    const value = document.createElement('span');
    value.className = 'field-value';
    value.dataset.field = name;
    const hint = document.createElement('span');
    hint.className = 'field-hint';
    dd.append(value, hint);
    row.append(dt, dd);
    fieldsEl.append(row);
    f = { value, hint, row };
    fieldEls.set(name, f);
    return f;
  }
  for (const name of FIELDS) fieldEl(name);

  function raw(v) {
    if (v === null || v === undefined) return '';
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  }

  function hintOf(name, v, t, now) {
    if (v === null || v === undefined) return '';
    if (STAMP.test(name)) {
      const ms = parseTime(v);
      return ms === null ? '' : `${formatClock(v)} · ${formatAgo(v, now)}`;
    }
    switch (name) {
      case 'rate': return formatRate(v);
      case 'eta_s': return TERMINAL.has(t.status) ? '' : formatDuration(v);
      case 'lease_s': case 'expire_s': return formatDuration(v);
      case 'timeout_s': case 'stall_s': return formatSpan(v);
      default: return '';
    }
  }

  function set(el, text) { if (el.textContent !== text) el.textContent = text; }

  // ---------------------------------------------------------------- deadlines

  const reasonEl = document.getElementById('detail-reason');
  const deadlinesEl = document.getElementById('detail-deadlines');
  const deadlineRows = Object.fromEntries(['timeout', 'stall'].map((k) => {
    const row = deadlinesEl.querySelector(`[data-deadline="${k}"]`);
    return [k, { value: row.querySelector('.field-value'), hint: row.querySelector('.field-hint') }];
  }));

  /** When the task times out and when it stalls: the instant, the time left, the rule. */
  function drawDeadlines(t, now) {
    const has = (v) => typeof v === 'number' && v > 0;
    deadlinesEl.closest('section').hidden = !has(t.timeout_s) && !has(t.stall_s);
    const at = deadlinesOf(t);
    const when = (ms) => (ms === null ? '' : `${formatClock(new Date(ms).toISOString())} · ${ms > now ? `in ${formatLeft((ms - now) / 1000)}` : 'due now'}`);
    let value = 'none', hint = '';
    if (has(t.timeout_s)) {
      if (at.timeout !== null) { value = when(at.timeout); hint = `${formatSpan(t.timeout_s)} after it started`; }
      else if (t.status === 'failed' && t.error && t.error.code === 'timeout') { value = `timed out after ${formatSpan(t.timeout_s)}`; }
      else value = `${formatSpan(t.timeout_s)} after it ${t.started_at && t.status !== 'queued' ? 'started (no longer applies)' : 'starts'}`;
    }
    set(deadlineRows.timeout.value, value); set(deadlineRows.timeout.hint, hint);
    value = 'none'; hint = '';
    if (has(t.stall_s)) {
      if (at.stall !== null) {
        value = when(at.stall);
        hint = `after ${formatSpan(t.stall_s)} with no change of done, percent or message${t.progress_at ? ` (last change ${formatAgo(t.progress_at, now)})` : ' (none yet: counted from the start)'}`;
      } else if (t.status === 'failed' && t.error && t.error.code === 'stalled') { value = `stalled: no progress for ${formatSpan(t.stall_s)}`; }
      else value = `after ${formatSpan(t.stall_s)} without progress while running`;
    }
    set(deadlineRows.stall.value, value); set(deadlineRows.stall.hint, hint);
  }

  function draw() {
    if (!id) return;
    const live = state.tasks.get(id);
    if (live) task = live;
    const gone = !live && state.removed.has(id);
    goneEl.hidden = !gone;
    aside.dataset.status = gone ? 'removed' : task ? task.status : '';
    if (!task) return;
    const t = task;
    set(titleEl, t.title || t.id);
    set(chip, gone ? 'deleted' : t.status);
    aside.dataset.stale = t.stale ? 'true' : 'false';
    const now = Date.now();
    const names = [...FIELDS, ...Object.keys(t).filter((k) => !FIELDS.includes(k) && !BLOCKS.has(k))];
    for (const name of names) {
      if (!(name in t) && !fieldEls.has(name)) continue;
      const f = fieldEl(name);
      f.row.hidden = !(name in t);
      set(f.value, raw(t[name]));
      set(f.hint, hintOf(name, t[name], t, now));
    }
    const pct = typeof t.percent === 'number' ? Math.max(0, Math.min(100, t.percent)) : t.status === 'succeeded' ? 100 : null;
    if (pct === null) { bar.removeAttribute('aria-valuenow'); bar.dataset.indeterminate = 'true'; fill.style.transform = ''; set(pctEl, ''); }
    else {
      const shown = Math.round(pct * 10) / 10;
      bar.setAttribute('aria-valuenow', String(shown)); bar.dataset.indeterminate = 'false';
      fill.style.transform = `scaleX(${pct / 100})`;
      set(pctEl, `${formatNumber(shown)}%`);
    }
    bar.setAttribute('aria-label', `Progress of ${t.title || t.id}`);

    const errorEl = document.getElementById('detail-error');
    set(errorEl, t.error ? `${t.error.code}${t.error.message ? `: ${t.error.message}` : ''}` : '');
    errorEl.closest('section').hidden = !t.error;
    const reason = deadlineFailure(t);
    set(reasonEl, reason ? `${reason.charAt(0).toUpperCase()}${reason.slice(1)}.` : '');
    reasonEl.hidden = !reason;
    drawDeadlines(t, now);
    const resultEl = document.getElementById('detail-result');
    set(resultEl, t.result === null || t.result === undefined ? '' : JSON.stringify(t.result, null, 2));
    resultEl.closest('section').hidden = t.result === null || t.result === undefined;
    set(document.getElementById('detail-meta'), JSON.stringify(t.meta ?? {}, null, 2));

    const p = actions.pendingOf(id);
    for (const [name, btn] of Object.entries(buttons)) {
      if (p && p.action === name) { btn.hidden = false; btn.disabled = true; set(btn, ACTIONS[name].pending); }
      else { btn.hidden = gone || !allowed(name, t.status) || !mayAct(t, name); btn.disabled = !!p; set(btn, ACTIONS[name].label); }
    }
    const err = actions.errorOf(id);
    set(errBox, err ? err.message : '');
    errBox.hidden = !err;
    drawTimeline();
  }

  function li(e) {
    const item = document.createElement('li');
    item.dataset.seq = String(e.seq);
    item.dataset.event = e.event;
    const ev = document.createElement('span');
    ev.className = 'tl-event';
    ev.textContent = e.event;
    const seq = document.createElement('span');
    seq.className = 'tl-seq';
    seq.textContent = `#${e.seq}`;
    const time = document.createElement('time');
    if (e.at) { time.dateTime = e.at; time.textContent = formatClock(e.at); }
    const msg = document.createElement('span');
    msg.className = 'tl-msg';
    const bits = [];
    if (e.event === 'progress' && typeof e.percent === 'number') bits.push(`${formatNumber(Math.round(e.percent * 10) / 10)}%`);
    if (e.event === 'progress' && e.stale === false && !e.message) bits.push('heartbeat again');
    if (e.message) bits.push(e.message);
    msg.textContent = bits.join(' · ');
    item.append(ev, seq, time, msg);
    return item;
  }

  // Newest first. New events are prepended; entries trimmed from the stored timeline are
  // dropped from the end; merged older history rebuilds the list once.
  function drawTimeline() {
    const entries = timelineOf(id);
    if (timelineFor !== id || timelineDirty) {
      timelineFor = id;
      timelineDirty = false;
      const frag = document.createDocumentFragment();
      for (let i = entries.length - 1; i >= 0; i -= 1) frag.append(li(entries[i]));
      timelineEl.replaceChildren(frag);
    } else {
      const oldest = entries.length ? entries[0].seq : Infinity;
      while (timelineEl.lastElementChild && Number(timelineEl.lastElementChild.dataset.seq) < oldest) timelineEl.lastElementChild.remove();
      const top = timelineEl.firstElementChild ? Number(timelineEl.firstElementChild.dataset.seq) : -Infinity;
      let i = entries.length;
      while (i > 0 && entries[i - 1].seq > top) i -= 1;
      for (; i < entries.length; i += 1) timelineEl.prepend(li(entries[i]));
    }
    timelineEl.closest('section').dataset.empty = entries.length ? 'false' : 'true';
  }

  // ---------------------------------------------------------------- earlier history

  function askHistory() {
    if (!id || !state.epoch || state.seq === null) { set(noteEl, 'Events seen since this page loaded.'); return; }
    const s = state.seq;
    // since=0 gives everything while the history ring has not wrapped; otherwise narrower
    // windows still give the task's recent past (default --history is 10,000 events).
    const candidates = [0, s - 9000, s - 1000, s - 100].filter((n, i, a) => n >= 0 && a.indexOf(n) === i);
    history = { id, topic: `task:${id}`, candidates, since: null };
    set(noteEl, 'Loading earlier events…');
    nextHistory();
  }

  function nextHistory() {
    const h = history;
    if (!h) return;
    if (!h.candidates.length) {
      set(noteEl, 'Earlier events are no longer in the server’s history; showing those seen since this page loaded.');
      history = null;
      return;
    }
    h.since = h.candidates.shift();
    if (!send({ op: 'subscribe', topic: h.topic, since: h.since, epoch: state.epoch })) {
      set(noteEl, 'Events seen since this page loaded.');
      history = null;
    }
  }

  /** Messages of topic `task:<id>` (not `tasks`) come here. */
  function onTopicMessage(msg) {
    const h = history;
    if (!h || msg.topic !== h.topic) return false;
    if (msg.type === 'resumed') {
      send({ op: 'unsubscribe', topic: h.topic });
      h.resumed = true;
      set(noteEl, h.since === 0 ? 'Complete history of this task.' : 'Recent history (older events are no longer kept by the server).');
    } else if (msg.type === 'snapshot') {
      send({ op: 'unsubscribe', topic: h.topic });
      h.retry = true;
    } else if (msg.type === 'unsubscribed') {
      if (h.retry) { h.retry = false; nextHistory(); } else history = null;
    } else if (msg.type === 'error') {
      // e.g. forbidden: the token may not read this task's topic
      history = null;
      set(noteEl, 'Events seen since this page loaded (earlier ones are not available to this token).');
    } else {
      return false;     // the task's events: the caller records them in the timeline
    }
    return true;
  }

  function historyMerged(tid) {
    if (tid === id) { timelineDirty = true; }
  }

  // ---------------------------------------------------------------- open / close

  function open(taskId, from) {
    const prev = id;
    id = taskId;
    opener = from || null;
    task = state.tasks.get(taskId) || null;
    aside.hidden = false;
    aside.dataset.detailId = taskId;
    timelineFor = null;
    draw();
    if (prev !== taskId) {
      if (history) send({ op: 'unsubscribe', topic: history.topic });
      history = null;
      askHistory();
    }
    onOpen(taskId, prev);
    aside.querySelector('[data-action="close-detail"]').focus();
  }

  function close() {
    if (!id) return;
    const was = id;
    aside.hidden = true;
    if (history) { send({ op: 'unsubscribe', topic: history.topic }); history = null; }
    id = null;
    task = null;
    delete aside.dataset.detailId;
    onClose(was);
    const back = opener && opener.isConnected && !opener.closest('[hidden]') ? opener : document.getElementById('search');
    opener = null;
    if (back) back.focus();
  }

  aside.addEventListener('click', (ev) => {
    const b = ev.target.closest('button');
    if (!b) return;
    if (b.dataset.action === 'close-detail') close();
    else if (b.dataset.detailAction && id) actions.run(id, b.dataset.detailAction);
  });

  return {
    get id() { return id; },
    open, close, draw, onTopicMessage, historyMerged,
    tick(now) {
      if (!id || !task) return;
      for (const [name, f] of fieldEls) if (STAMP.test(name) && !f.row.hidden) set(f.hint, hintOf(name, task[name], task, now));
      drawDeadlines(task, now);
    },
  };
}
