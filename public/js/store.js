// The dashboard's state: tasks by id, counts by status, the resume position (epoch, seq) and
// a short per-task timeline of the events this page has seen. No DOM here: every change calls
// the listener with what changed, and the view batches those into one frame.
//
// Per event the work is O(1): one Map lookup, a counts adjustment, one timeline append.

export const STATUSES = ['queued', 'running', 'cancelling', 'succeeded', 'failed', 'cancelled'];
export const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

// Per task, the newest events kept for the detail timeline: a task reporting progress every
// 100 ms for an hour must not grow without bound.
const TIMELINE_LIMIT = 500;

export const state = {
  tasks: new Map(),        // id → task JSON (as last pushed)
  counts: Object.fromEntries(STATUSES.map((s) => [s, 0])),
  epoch: null,
  seq: null,               // last seq applied (snapshot or event) on topic `tasks`
  removed: new Set(),      // ids removed while this page watched (the detail panel says so)
};

const timelines = new Map();   // id → [{seq, event, at, message, status, percent}], by seq

let listener = { task() {}, all() {}, counts() {}, timeline() {} };
export function listen(l) { listener = { ...listener, ...l }; }

function bump(status, by) {
  if (!status) return;
  state.counts[status] = Math.max(0, (state.counts[status] || 0) + by);
}

/** A snapshot replaces the whole state: rows that are not in it disappear. */
export function applySnapshot(msg) {
  state.tasks.clear();
  for (const t of msg.tasks || []) state.tasks.set(t.id, t);
  for (const s of STATUSES) state.counts[s] = (msg.counts && msg.counts[s]) || 0;
  state.epoch = msg.epoch ?? null;
  state.seq = msg.seq ?? null;
  for (const id of timelines.keys()) if (!state.tasks.has(id)) timelines.delete(id);
  listener.all();
}

/** A `task` event; returns false when it was already applied (seq not newer). */
export function applyTask(msg) {
  const t = msg.task;
  if (!t || typeof t.id !== 'string') return false;
  const old = state.tasks.get(t.id);
  if (typeof msg.seq === 'number') state.seq = Math.max(state.seq ?? 0, msg.seq);
  if (old && typeof old.seq === 'number' && typeof t.seq === 'number' && old.seq >= t.seq) return false;
  if (old) {
    if (old.status !== t.status) { bump(old.status, -1); bump(t.status, +1); }
  } else {
    // New to this page: created now, or an old terminal task beyond the snapshot's window
    // coming back by retry (its old status was counted, but which one is unknown).
    bump(t.status, +1);
  }
  state.tasks.set(t.id, t);
  state.removed.delete(t.id);
  record(t.id, entryOf(msg));
  listener.task(t.id, old);
  listener.counts();
  return true;
}

export function applyRemoved(msg) {
  if (typeof msg.seq === 'number') state.seq = Math.max(state.seq ?? 0, msg.seq);
  const old = state.tasks.get(msg.id);
  if (!old) return false;
  bump(old.status, -1);
  state.tasks.delete(msg.id);
  state.removed.add(msg.id);
  record(msg.id, { seq: msg.seq, event: 'removed', at: new Date().toISOString(), message: '', status: 'removed', percent: null });
  listener.task(msg.id, old);
  listener.counts();
  return true;
}

function entryOf(msg) {
  const t = msg.task;
  let message = t.message || '';
  if (msg.event === 'failed' && t.error) message = `${t.error.code}${t.error.message ? ': ' + t.error.message : ''}`;
  return {
    seq: msg.seq, event: msg.event || 'task', at: t.updated_at, message,
    status: t.status, percent: typeof t.percent === 'number' ? t.percent : null, stale: !!t.stale,
  };
}

/** Appends (or, for older history, merges) one entry; duplicates by seq are ignored. */
function record(id, entry) {
  let list = timelines.get(id);
  if (!list) { list = []; timelines.set(id, list); }
  const last = list[list.length - 1];
  if (!last || last.seq < entry.seq) {
    list.push(entry);
    if (list.length > TIMELINE_LIMIT) list.shift();
    listener.timeline(id, false);
    return;
  }
  // out of order (history fetched for the detail panel): insert at its place
  let lo = 0, hi = list.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (list[mid].seq < entry.seq) lo = mid + 1; else hi = mid; }
  if (list[lo] && list[lo].seq === entry.seq) return;
  list.splice(lo, 0, entry);
  if (list.length > TIMELINE_LIMIT) list.shift();
  listener.timeline(id, true);
}

/** An event of the task's own topic (history for the detail panel): timeline only. */
export function recordHistory(msg) {
  if (msg.type === 'task' && msg.task) record(msg.task.id, entryOf(msg));
  else if (msg.type === 'removed') {
    record(msg.id, { seq: msg.seq, event: 'removed', at: null, message: '', status: 'removed', percent: null });
  }
}

export function timelineOf(id) { return timelines.get(id) || []; }
