// Herald dashboard (seed): live task list over /ws?topic=tasks.
//
// One WebSocket to the same host (ws: or wss: by the page's protocol). The first message is a
// snapshot (the state of every non-terminal task plus recent terminal ones, and counts by
// status); then `task` and `removed` events follow. On a lost connection it reconnects with
// exponential backoff and resumes with since=<last seq>&epoch=<epoch>: either `resumed` and the
// missed events, or a fresh snapshot (recovered:false) that replaces the whole state.
//
// State lives in plain maps; the DOM is updated once per animation frame for the rows that
// changed, so a burst of progress events costs one layout, not one per event.
//
// Stable hooks (used by tests and the full dashboard later): each row is
// li[data-task-id][data-status][data-stale="true|false"]; #conn[data-state="live|reconnecting|offline"];
// [data-count="<status>"].

const STATUSES = ['queued', 'running', 'cancelling', 'succeeded', 'failed', 'cancelled'];
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15000;

const state = {
  tasks: new Map(),      // id → task JSON
  counts: Object.fromEntries(STATUSES.map((s) => [s, 0])),
  epoch: null,
  seq: null,             // last seq applied (snapshot or event)
  conn: 'offline',
  connText: 'Connecting…',
};
const stats = { snapshots: 0, resumes: 0, events: 0, connects: 0, lastUrl: null };

// ------------------------------------------------------------------ DOM batching

const rows = new Map();          // id → <li>
const dirty = new Set();         // ids whose row must be (re)drawn
let dirtyAll = false;            // the whole list (after a snapshot)
let dirtyHeader = false;
let frame = 0;

function schedule() {
  if (!frame) frame = requestAnimationFrame(render);
}

function markTask(id) { dirty.add(id); dirtyHeader = true; schedule(); }
function markAll() { dirtyAll = true; dirtyHeader = true; schedule(); }
function markHeader() { dirtyHeader = true; schedule(); }

const $ = (sel) => document.querySelector(sel);
const list = $('#tasks');
const template = $('#row-template');

function render() {
  frame = 0;
  if (dirtyAll) {
    dirtyAll = false;
    dirty.clear();
    for (const [id, row] of rows) {
      if (!state.tasks.has(id)) { row.remove(); rows.delete(id); }
    }
    const ordered = [...state.tasks.values()].sort(byNewest);
    const frag = document.createDocumentFragment();
    for (const t of ordered) {
      let row = rows.get(t.id);
      if (!row) { row = makeRow(t.id); rows.set(t.id, row); }
      drawRow(row, t);
      frag.appendChild(row);          // moves existing rows into order
    }
    list.replaceChildren(frag);
  } else if (dirty.size) {
    for (const id of dirty) {
      const t = state.tasks.get(id);
      let row = rows.get(id);
      if (!t) {
        if (row) { row.remove(); rows.delete(id); }
        continue;
      }
      if (!row) {
        row = makeRow(id);
        rows.set(id, row);
        insertInOrder(row, t);
      }
      drawRow(row, t);
    }
    dirty.clear();
  }
  if (dirtyHeader) {
    dirtyHeader = false;
    for (const s of STATUSES) {
      const el = document.querySelector(`[data-count="${s}"]`);
      if (el) el.textContent = String(state.counts[s] || 0);
    }
    const conn = $('#conn');
    conn.dataset.state = state.conn;
    conn.querySelector('.conn-text').textContent = state.connText;
    $('#empty').hidden = state.tasks.size > 0;
  }
}

// Newest first (created_at is RFC 3339 UTC with ms: it sorts as text), then by id.
function byNewest(a, b) {
  if (a.created_at !== b.created_at) return a.created_at < b.created_at ? 1 : -1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function insertInOrder(row, t) {
  for (const other of list.children) {
    const o = state.tasks.get(other.dataset.taskId);
    if (o && byNewest(t, o) < 0) { list.insertBefore(row, other); return; }
  }
  list.appendChild(row);
}

function makeRow(id) {
  const row = template.content.firstElementChild.cloneNode(true);
  row.dataset.taskId = id;
  return row;
}

function drawRow(row, t) {
  row.dataset.status = t.status;
  row.dataset.stale = t.stale ? 'true' : 'false';
  setText(row.querySelector('.title'), t.title || '(untitled)');
  setText(row.querySelector('.id'), t.id);
  setText(row.querySelector('.chip'), t.status);
  const bar = row.querySelector('.bar');
  const fill = row.querySelector('.fill');
  bar.setAttribute('aria-label', `Progress of ${t.title || t.id}`);
  const pct = percentOf(t);
  if (pct === null) {
    bar.removeAttribute('aria-valuenow');    // indeterminate
    bar.dataset.indeterminate = 'true';
    fill.style.width = '';
    setText(row.querySelector('.percent'), t.done ? `${formatNumber(t.done)} done` : '');
  } else {
    const shown = Math.round(pct * 10) / 10;
    bar.setAttribute('aria-valuenow', String(shown));
    bar.dataset.indeterminate = 'false';
    fill.style.width = `${pct}%`;
    setText(row.querySelector('.percent'), `${formatNumber(shown)}%`);
  }
  let message = t.message || '';
  if (t.status === 'failed' && t.error) {
    message = `${t.error.code}${t.error.message ? ': ' + t.error.message : ''}`;
  }
  setText(row.querySelector('.message'), message);
  row.querySelector('.message').title = message;
  setText(row.querySelector('.detail'), detailOf(t));
}

function percentOf(t) {
  if (typeof t.percent === 'number') return Math.min(100, Math.max(0, t.percent));
  if (t.status === 'succeeded') return 100;
  return null;
}

function detailOf(t) {
  const parts = [];
  if (t.total !== null && t.total !== undefined) parts.push(`${formatNumber(t.done)} / ${formatNumber(t.total)}`);
  if (!TERMINAL.has(t.status) && typeof t.rate === 'number' && t.rate > 0) parts.push(`${formatNumber(t.rate)}/s`);
  if (!TERMINAL.has(t.status) && typeof t.eta_s === 'number') parts.push(`ETA ${formatDuration(t.eta_s)}`);
  if (t.attempt > 1) parts.push(`attempt ${t.attempt}`);
  return parts.join(' · ');
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function formatNumber(n) {
  if (typeof n !== 'number' || !isFinite(n)) return '';
  return n.toLocaleString(undefined, { maximumFractionDigits: Math.abs(n) < 10 ? 1 : 0 });
}

function formatDuration(s) {
  s = Math.max(0, Math.round(s));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

// ------------------------------------------------------------------ state changes

function applySnapshot(msg) {
  stats.snapshots += 1;
  state.tasks.clear();
  for (const t of msg.tasks || []) state.tasks.set(t.id, t);
  for (const s of STATUSES) state.counts[s] = (msg.counts && msg.counts[s]) || 0;
  state.epoch = msg.epoch;
  state.seq = msg.seq;
  markAll();
}

function applyTask(msg) {
  const t = msg.task;
  const old = state.tasks.get(t.id);
  if (old && typeof old.seq === 'number' && old.seq >= t.seq) return;   // already applied
  if (old) {
    if (old.status !== t.status) {
      state.counts[old.status] = Math.max(0, (state.counts[old.status] || 0) - 1);
      state.counts[t.status] = (state.counts[t.status] || 0) + 1;
    }
  } else {
    // A task the snapshot did not hold: created now (or an old terminal one, beyond the
    // snapshot's terminal window, coming back by retry: its old status was counted in the
    // snapshot's counts, but which one is not known, so only the new status is added).
    state.counts[t.status] = (state.counts[t.status] || 0) + 1;
  }
  state.tasks.set(t.id, t);
  markTask(t.id);
}

function applyRemoved(msg) {
  const old = state.tasks.get(msg.id);
  if (old) {
    state.counts[old.status] = Math.max(0, (state.counts[old.status] || 0) - 1);
    state.tasks.delete(msg.id);
    markTask(msg.id);
  }
}

function setConn(conn, text) {
  state.conn = conn;
  state.connText = text;
  markHeader();
}

// ------------------------------------------------------------------ connection

let ws = null;
let attempt = 0;
let retryTimer = 0;

function wsURL() {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const params = new URLSearchParams({ topic: 'tasks' });
  if (state.epoch !== null && state.seq !== null) {
    params.set('since', String(state.seq));
    params.set('epoch', state.epoch);
  }
  return `${proto}//${location.host}/ws?${params}`;
}

function connect() {
  clearTimeout(retryTimer);
  retryTimer = 0;
  if (navigator.onLine === false) {
    setConn('offline', 'Offline — waiting for the network');
    return;
  }
  const url = wsURL();
  stats.connects += 1;
  stats.lastUrl = url;
  let socket;
  try {
    socket = new WebSocket(url);
  } catch (e) {
    scheduleReconnect();
    return;
  }
  ws = socket;
  socket.onmessage = (ev) => {
    if (socket !== ws) return;
    let msg;
    try { msg = JSON.parse(ev.data); } catch (e) { return; }
    handle(msg);
  };
  socket.onclose = () => {
    if (socket !== ws) return;
    ws = null;
    scheduleReconnect();
  };
  socket.onerror = () => { /* onclose follows */ };
}

function handle(msg) {
  switch (msg.type) {
    case 'snapshot':
      if (msg.topic !== 'tasks') return;
      applySnapshot(msg);
      live();
      break;
    case 'resumed':
      if (msg.topic !== 'tasks') return;
      stats.resumes += 1;
      state.epoch = msg.epoch;
      live();
      break;
    case 'task':
      if (msg.topic !== 'tasks') return;
      stats.events += 1;
      applyTask(msg);
      state.seq = Math.max(state.seq ?? 0, msg.seq);
      break;
    case 'removed':
      if (msg.topic !== 'tasks') return;
      stats.events += 1;
      applyRemoved(msg);
      state.seq = Math.max(state.seq ?? 0, msg.seq);
      break;
    case 'error':
      console.warn('herald:', msg.code, msg.message);
      break;
    default:
      break;
  }
}

function live() {
  attempt = 0;
  setConn('live', 'Live');
}

function scheduleReconnect() {
  if (navigator.onLine === false) {
    setConn('offline', 'Offline — waiting for the network');
    return;
  }
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
  const delay = Math.round(base / 2 + Math.random() * base / 2);     // jitter: no thundering herd
  attempt += 1;
  setConn('reconnecting', `Reconnecting in ${Math.max(1, Math.round(delay / 1000))} s…`);
  retryTimer = setTimeout(connect, delay);
}

window.addEventListener('online', () => { if (!ws) connect(); });
window.addEventListener('offline', () => {
  if (!ws) { clearTimeout(retryTimer); setConn('offline', 'Offline — waiting for the network'); }
});

for (const el of document.querySelectorAll('.origin')) el.textContent = location.origin;

// A small read-only window for tests and the console; `reconnect()` drops the socket as a
// network failure would.
window.herald = {
  state,
  stats,
  reconnect() { if (ws) ws.close(4000, 'reconnect'); },
};

connect();
