// Herald dashboard: live task list over /ws?topic=tasks. Plain ES modules, no build step.
//
//   js/store.js    state: tasks, counts, epoch/seq, per-task timelines (no DOM)
//   js/conn.js     the WebSocket: servers, backoff with full jitter, resume with since=/epoch=
//   js/view.js     the list: keyed rows, one batched render per animation frame, sort, filters
//   js/detail.js   the detail panel and the task's earlier history
//   js/actions.js  cancel / retry / delete: pending state and inline errors
//   js/api.js      HTTP to the connected server, with the publish token on 401
//   js/format.js   numbers, durations, relative times
//
// Stable hooks (tests rely on them): rows li[data-task-id][data-status][data-stale] in #tasks,
// with [role=progressbar][aria-valuenow] and buttons [data-action=cancel|retry|delete|details];
// #conn[data-state=live|reconnecting|offline]; [data-count=<status>]; #filter-status,
// #filter-owner, #search, #sort; aside#detail with [data-field], #detail-meta, #detail-error,
// ol#detail-timeline, [data-action=close-detail]; dialog#token-dialog, #token-input,
// #token-submit; html[data-server]; window.heraldStats; window.herald.

import * as store from './js/store.js';
import { state } from './js/store.js';
import { createConnection, parseServer, stats } from './js/conn.js';
import * as view from './js/view.js';
import { heraldStats } from './js/view.js';
import { createDetail } from './js/detail.js';
import { createActions } from './js/actions.js';

/** ?servers=a:1,b:2 in the page URL, else /config.json {"servers":[…]}, else this origin. */
async function loadServers() {
  const param = new URLSearchParams(location.search).get('servers');
  let names = param ? param.split(',') : null;
  if (!names) {
    try {
      const res = await fetch('/config.json', { cache: 'no-store' });
      if (res.ok) {
        const cfg = await res.json();
        if (Array.isArray(cfg.servers) && cfg.servers.length) names = cfg.servers;
      }
    } catch { /* no config: this origin */ }
  }
  const servers = (names || []).map(parseServer).filter(Boolean);
  return servers.length ? servers : [parseServer(location.host)];
}

function debounce(fn, ms) {
  let t = 0;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}

async function main() {
  const servers = await loadServers();
  let connection = null;
  const server = () => connection.server;
  const send = (obj) => connection.send(obj);

  const actions = createActions({ server, onChange: (id) => view.markTask(id) });
  const detail = createDetail({
    actions, send,
    onOpen(id, prev) {
      if (prev && prev !== id) document.querySelector(`#tasks > li[data-task-id="${CSS.escape(prev)}"]`)?.classList.remove('is-open');
      document.querySelector(`#tasks > li[data-task-id="${CSS.escape(id)}"]`)?.classList.add('is-open');
      document.body.classList.add('detail-open');
    },
    onClose(id) {
      document.querySelector(`#tasks > li[data-task-id="${CSS.escape(id)}"]`)?.classList.remove('is-open');
      document.body.classList.remove('detail-open');
    },
  });

  store.listen({
    task(id) { view.markTask(id); actions.seen(id); },
    all() {
      view.markAll();
      for (const id of state.tasks.keys()) actions.seen(id);
    },
    counts() { view.markHeader(); },
    timeline(id, merged) {
      if (detail.id !== id) return;
      if (merged) detail.historyMerged(id);
      view.markDetail();
    },
  });

  view.initView({ actionsController: actions, detailPanel: detail, onOpenDetail: (id, from) => detail.open(id, from) });

  function onMessage(msg) {
    if (typeof msg.topic === 'string' && msg.topic !== 'tasks') {
      // task:<id> — the detail panel's history request
      if (!detail.onTopicMessage(msg) && (msg.type === 'task' || msg.type === 'removed')) store.recordHistory(msg);
      return;
    }
    switch (msg.type) {
      case 'snapshot': store.applySnapshot(msg); break;
      case 'resumed': state.epoch = msg.epoch; break;
      case 'task': stats.events += 1; heraldStats.events += 1; store.applyTask(msg); break;
      case 'removed': stats.events += 1; heraldStats.events += 1; store.applyRemoved(msg); break;
      case 'error': console.warn('herald:', msg.code, msg.message); break;
      default: break;
    }
  }

  connection = createConnection({ servers, onMessage, onState: (c) => view.setConn(c) });

  // ---------------------------------------------------------------- controls

  const statusSel = document.getElementById('filter-status');
  const ownerIn = document.getElementById('filter-owner');
  const searchIn = document.getElementById('search');
  const sortSel = document.getElementById('sort');
  const syncCountButtons = () => {
    for (const b of document.querySelectorAll('.count[data-status]')) {
      b.setAttribute('aria-pressed', String(statusSel.value === b.dataset.status));
    }
  };
  const applyFilters = () => {
    view.setFilter({ status: statusSel.value, owner: ownerIn.value, q: searchIn.value });
    syncCountButtons();
  };
  // The view is part of the address (?status=&owner=&q=&sort=), so a filtered view can be shared.
  const params = new URLSearchParams(location.search);
  if (params.has('status') && [...statusSel.options].some((o) => o.value === params.get('status'))) statusSel.value = params.get('status');
  if (params.has('owner')) ownerIn.value = params.get('owner');
  if (params.has('q')) searchIn.value = params.get('q');
  if (params.get('sort') === 'eta') sortSel.value = 'eta';
  const saveView = debounce(() => {
    const p = new URLSearchParams(location.search);
    const put = (k, v) => { if (v) p.set(k, v); else p.delete(k); };
    put('status', statusSel.value); put('owner', ownerIn.value.trim()); put('q', searchIn.value.trim());
    put('sort', sortSel.value === 'recent' ? '' : sortSel.value);
    const qs = p.toString();
    history.replaceState(null, '', `${location.pathname}${qs ? `?${qs}` : ''}${location.hash}`);
  }, 300);
  if (statusSel.value || ownerIn.value || searchIn.value) applyFilters();
  if (sortSel.value !== 'recent') view.setSort(sortSel.value);
  for (const el of [statusSel, ownerIn, searchIn, sortSel]) {
    el.addEventListener('change', saveView);
    el.addEventListener('input', saveView);
  }
  statusSel.addEventListener('change', applyFilters);
  ownerIn.addEventListener('input', debounce(applyFilters, 120));
  ownerIn.addEventListener('change', applyFilters);
  searchIn.addEventListener('input', debounce(applyFilters, 120));
  searchIn.addEventListener('change', applyFilters);
  sortSel.addEventListener('change', () => view.setSort(sortSel.value));
  for (const b of document.querySelectorAll('.count[data-status]')) {
    b.addEventListener('click', () => {
      statusSel.value = statusSel.value === b.dataset.status ? '' : b.dataset.status;
      applyFilters();
    });
  }
  document.getElementById('clear-filters').addEventListener('click', () => {
    statusSel.value = ''; ownerIn.value = ''; searchIn.value = '';
    applyFilters();
    searchIn.focus();
  });
  // owners seen, for the owner box's suggestions (refreshed at most every 2 s)
  const owners = document.getElementById('owners');
  let ownerSig = '';
  setInterval(() => {
    const set = new Set();
    for (const t of state.tasks.values()) if (t.owner) set.add(t.owner);
    const sorted = [...set].sort().slice(0, 200);
    const sig = sorted.join('\n');
    if (sig === ownerSig) return;
    ownerSig = sig;
    owners.replaceChildren(...sorted.map((o) => Object.assign(document.createElement('option'), { value: o })));
  }, 2000);

  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && detail.id && !document.getElementById('token-dialog').open) {
      ev.preventDefault();
      detail.close();
    } else if (ev.key === '/' && !ev.ctrlKey && !ev.metaKey && !/^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement?.tagName || '')) {
      ev.preventDefault();
      searchIn.focus();
    }
  });

  for (const el of document.querySelectorAll('.origin')) el.textContent = servers[0].http;

  // A small window for tests and the console; `reconnect()` drops the socket as a network
  // failure would.
  window.heraldStats = heraldStats;
  window.herald = {
    state, stats, heraldStats, servers,
    get server() { return connection.server.key; },
    reconnect() { connection.reconnect(); },
  };
  connection.start();
}

main();
