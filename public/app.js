// Herald dashboard: live task list over /ws?topic=tasks (or owner:<sub> for a viewer's token).
// Plain ES modules, no build step.
//
//   js/store.js    state: tasks, counts, epoch/seq, per-task timelines (no DOM)
//   herald.js      the connection, the same module apps use (served at /herald.js): servers,
//                  backoff with full jitter, resume with since=/epoch=, token refresh
//   js/auth.js     the page's token: ?token=, window.heraldConfig, tokenUrl; can(role, action)
//   js/view.js     the list: keyed rows, one batched render per animation frame, sort, filters
//   js/detail.js   the detail panel and the task's earlier history
//   js/actions.js  cancel / retry / delete: pending state and inline errors
//   js/api.js      HTTP to the connected server, with the publish token on 401
//   js/format.js   numbers, durations, relative times
//   js/deadline.js timeout / stall deadlines: countdowns and failure reasons (pure)
//   js/selection.js, js/batch.js, js/batchbar.js  multi-select and POST /api/batch
//   js/taskstats.js, js/strip.js  the statistics strip, computed in the page
//
// Stable hooks (tests rely on them): rows li[data-task-id][data-status][data-stale] in #tasks,
// with [role=progressbar][aria-valuenow] and buttons [data-action=cancel|retry|delete|details];
// #conn[data-state=live|reconnecting|offline]; [data-count=<status>]; #filter-status,
// #filter-owner, #search, #sort; aside#detail with [data-field], #detail-meta, #detail-error,
// ol#detail-timeline, [data-action=close-detail]; dialog#token-dialog, #token-input,
// #token-submit; html[data-server]; window.heraldStats; window.herald; #who[data-sub][data-role];
// #access-banner[data-reason=missing|invalid|expired|renew-failed|forbidden]; a row's
// .deadline[data-kind=timeout|stall] countdown and input.row-select; #select-all, #batch-bar
// with [data-batch=cancel|retry|clear], [data-batch=retry-failed][data-mode=filter|ids],
// #batch-summary[data-result=ok|partial|refused|error][data-ok][data-refused] and its
// #batch-refused list; rows [data-refused=true]; section#stats[data-state][data-owner] with
// [data-stat=success_rate|finished|succeeded|failed|cancelled|p50|p90|per_minute][data-value],
// [data-stat=errors] li[data-code][data-count], svg[data-stat=timeline]; window.herald.taskStats().
//
// Configuration, for an app that embeds or links the dashboard: `window.heraldConfig =
// {servers, token, tokenUrl}` set before this module loads, and/or /config.json
// {"servers":[…],"tokenUrl":"…"}; `?servers=` and `?token=` in the address win.

import * as store from './js/store.js';
import { state } from './js/store.js';
import { connect, parseServer, tokenStats } from './herald.js';
import * as view from './js/view.js';
import { heraldStats } from './js/view.js';
import { createDetail } from './js/detail.js';
import { createActions } from './js/actions.js';
import { configureAccess } from './js/api.js';
import { createAuth, takeTokenFromAddress } from './js/auth.js';
import { createSelection } from './js/selection.js';
import { createBatchBar, batchStats } from './js/batchbar.js';
import { createStrip, stripStats } from './js/strip.js';

/** The page's own settings (window.heraldConfig, set by an embedding app), if any. */
function pageConfig() {
  const c = window.heraldConfig;
  return c && typeof c === 'object' ? c : {};
}

/** /config.json, or {} when there is none. */
async function fileConfig() {
  try {
    const res = await fetch('/config.json', { cache: 'no-store' });
    if (res.ok) {
      const cfg = await res.json();
      if (cfg && typeof cfg === 'object') return cfg;
    }
  } catch { /* no config */ }
  return {};
}

/** ?servers=a:1,b:2 in the page URL, else heraldConfig.servers, else /config.json
 * {"servers":[…]}, else this origin. */
function pickServers(page, file) {
  const param = new URLSearchParams(location.search).get('servers');
  let names = param ? param.split(',') : null;
  for (const c of [page, file]) {
    if (!names && Array.isArray(c.servers) && c.servers.length) names = c.servers;
  }
  const servers = (names || []).map(parseServer).filter(Boolean);
  return servers.length ? servers : [parseServer(location.host)];
}

/** What the access banner says, by reason. */
const REFUSALS = {
  missing: 'this server needs a token. Open the dashboard from your app, or add ?token=<jwt> to the address (herald token --sub NAME prints one).',
  invalid: 'the server did not accept your token (wrongly signed, malformed or not yet valid). Open the dashboard again from your app.',
  expired: 'your token has expired. Reload the page from your app.',
  'renew-failed': 'your token has expired and a new one could not be fetched. Reload the page from your app.',
  forbidden: 'your token does not allow watching these tasks.',
};

function debounce(fn, ms) {
  let t = 0;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}

async function main() {
  // ?token= leaves the address bar first, whatever happens next.
  const fromAddress = takeTokenFromAddress();
  const page = pageConfig();
  const file = await fileConfig();
  const servers = pickServers(page, file);
  const tokenUrl = [page.tokenUrl, file.tokenUrl].find((u) => typeof u === 'string' && u) || null;
  const given = fromAddress || (typeof page.token === 'string' && page.token ? page.token : null);
  let connection = null;
  const server = () => connection.server;
  const send = (obj) => (connection ? connection.send(obj) : false);

  const auth = createAuth({ token: given, tokenUrl, fromAddress: !!fromAddress, onChange: () => drawAccess() });
  await auth.init();
  // A viewer or worker sees its own tasks only: topic owner:<sub>. An admin token, a token the
  // page cannot read, or none at all: every task.
  const topic = auth.can('all-owners') || !auth.sub ? 'tasks' : `owner:${auth.sub}`;

  // ---------------------------------------------------------------- access: who, refusals

  const banner = document.getElementById('access-banner');
  function refuse(reason, detail) {
    if (!banner.hidden && banner.dataset.reason !== 'forbidden') return;   // the first fatal reason stays
    banner.dataset.reason = reason;
    banner.querySelector('.access-text').textContent = detail ? `${REFUSALS[reason]} ${detail}` : REFUSALS[reason];
    banner.hidden = false;
    document.body.classList.add('access-refused');
    if (reason !== 'forbidden') auth.forget();
    if (reason === 'invalid') document.getElementById('who').hidden = true;   // it names nobody
    if (connection) connection.close('access refused');
  }
  function drawAccess() {
    const who = document.getElementById('who');
    if (auth.token) {
      const sub = auth.sub, role = auth.role;
      who.dataset.sub = sub || '';
      who.dataset.role = role || '';
      who.querySelector('.who-sub').textContent = sub || 'token';
      who.querySelector('.who-role').textContent = role || '';
      const until = auth.exp ? `; the token is valid until ${new Date(auth.exp * 1000).toLocaleString()}` : '';
      who.title = sub ? `Signed in as ${sub} (${role})${until}` : 'Signed in with a token';
      who.hidden = false;
    } else {
      who.hidden = true;
    }
  }
  drawAccess();
  // A 401 on an action: the connection renews the token once (tokenUrl), else access is refused.
  configureAccess({
    token: () => auth.token,
    renew: (refused) => connection.renew(refused),
    refused: () => refuse(connection.refusalReason()),
  });
  // What the role cannot do is not offered: the owner filter (one owner's tasks only), the
  // create hint, /metrics (admin only; and a plain link cannot carry a token anyway).
  const mayAct = (task, action) => auth.mayAct(task, action);
  document.getElementById('ctl-owner').hidden = !auth.can('all-owners');
  document.getElementById('create-hint').hidden = !auth.can('create');
  for (const el of document.querySelectorAll('.auth-header')) el.hidden = !auth.token;
  document.getElementById('metrics-link').hidden = !auth.can('metrics') || !!auth.token;
  document.getElementById('live-topic').textContent = `/ws?topic=${topic}`;
  if (!auth.can('all-owners') && auth.sub) document.getElementById('empty-text').textContent = `No tasks of ${auth.sub} yet.`;

  const actions = createActions({ server, onChange: (id) => view.markTask(id) });
  const detail = createDetail({
    actions, send, mayAct,
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

  // ---------------------------------------------------------------- selection, batches, statistics

  const statusSel = document.getElementById('filter-status');
  const ownerIn = document.getElementById('filter-owner');
  const searchIn = document.getElementById('search');
  const sortSel = document.getElementById('sort');
  const params = new URLSearchParams(location.search);
  if (params.has('owner') && auth.can('all-owners')) ownerIn.value = params.get('owner');

  /** The owner the view is narrowed to, as the server spells it: the token's sub below admin;
   * else the owner filter's text, matched case-insensitively to an owner the page holds (the
   * list's filter ignores case, the server's `owner=` does not). */
  function ownerScope() {
    if (!auth.can('all-owners') && auth.sub) return auth.sub;
    const typed = ownerIn.value.trim();
    if (!typed) return '';
    const low = typed.toLowerCase();
    for (const t of state.tasks.values()) if (t.owner && t.owner.toLowerCase() === low) return t.owner;
    return typed;
  }

  let batchBar = null;
  const selection = createSelection({
    onChange(ids) { view.markSelection(ids); if (batchBar) batchBar.selectionChanged(); },
  });
  const strip = createStrip({
    server, tasks: () => state.tasks.values(), owner: ownerScope() || null,
    onChange: () => { if (batchBar) batchBar.refresh(); },     // a filtered owner's failed count
  });
  // A filtered owner's failed count comes from the server's stats (the page may not hold them
  // all); otherwise the header's count (a viewer's topic is its own owner already).
  const failedCount = () => (auth.can('all-owners') && ownerIn.value.trim()
    ? (strip.owner && strip.counts ? strip.counts.failed ?? 0 : null)
    : state.counts.failed || 0);

  store.listen({
    task(id, old) {
      view.markTask(id); actions.seen(id);
      strip.onTask(id, old, state.tasks.get(id));
    },
    all() {
      view.markAll();
      for (const id of state.tasks.keys()) actions.seen(id);
      strip.onSnapshot();           // and ask the server once for what the snapshot lacks
      if (batchBar) batchBar.refresh();
    },
    counts() { view.markHeader(); if (batchBar) batchBar.refresh(); },
    timeline(id, merged) {
      if (detail.id !== id) return;
      if (merged) detail.historyMerged(id);
      view.markDetail();
    },
  });

  view.initView({
    actionsController: actions, detailPanel: detail, mayAct, selection,
    refusedOf: (id) => (batchBar ? batchBar.refusedOf(id) : null),
    onOpenDetail: (id, from) => detail.open(id, from),
  });
  batchBar = createBatchBar({
    server, selection, view, mayAct, failedCount,
    can: (action) => auth.can(action),
    scope: () => ({ status: statusSel.value, q: searchIn.value.trim(), owner: ownerScope() }),
    onOpen: (id, from) => detail.open(id, from),
  });

  function onError(msg) {
    if (msg.topic === topic && msg.code === 'forbidden') {
      refuse('forbidden', msg.message ? `The server says: ${msg.message}` : '');
    } else if ((msg.code === 'invalid_token' || msg.code === 'forbidden') && !msg.topic) {
      // the answer to {"op":"auth"}: the socket keeps its old token, herald.js tries again later
      console.warn('herald: token refresh refused:', msg.code, msg.message);
    } else if (msg.code !== 'token_expired') {   // the 4001 close that follows is handled
      console.warn('herald:', msg.code, msg.message);
    }
  }

  function onMessage(msg) {
    if (typeof msg.topic === 'string' && msg.topic !== topic) {
      // task:<id> — the detail panel's history request
      if (!detail.onTopicMessage(msg) && (msg.type === 'task' || msg.type === 'removed')) store.recordHistory(msg);
      return;
    }
    switch (msg.type) {
      case 'snapshot': store.applySnapshot(msg); break;
      case 'resumed': state.epoch = msg.epoch; break;
      case 'task': heraldStats.events += 1; store.applyTask(msg); break;
      case 'removed': heraldStats.events += 1; store.applyRemoved(msg); break;
      case 'error': onError(msg); break;
      default: break;
    }
  }

  // The connection (herald.js): resume, backoff, failover over `servers`, token refresh. Its
  // states map onto #conn's three: live, reconnecting, offline (connecting, closed: offline).
  document.documentElement.dataset.server = servers[0].key;
  connection = connect({
    servers: servers.map((s) => s.http), topics: [topic], token: auth.token, tokenUrl,
    autoStart: false,
    onEvent: onMessage,
    onToken: (t) => auth.onToken(t),
    onState(c) {
      document.documentElement.dataset.server = new URL(c.server).host;
      view.setConn({ state: c.state === 'live' || c.state === 'reconnecting' ? c.state : 'offline', text: c.text });
      if (c.reason) refuse(c.reason);
    },
  });
  auth.bind(connection);

  // ---------------------------------------------------------------- controls

  const syncCountButtons = () => {
    for (const b of document.querySelectorAll('.count[data-status]')) {
      b.setAttribute('aria-pressed', String(statusSel.value === b.dataset.status));
    }
  };
  // The strip follows the owner filter: one /api/stats request once the typing has settled.
  const followOwner = debounce(() => strip.setOwner(ownerScope() || null), 400);
  const applyFilters = () => {
    view.setFilter({ status: statusSel.value, owner: ownerIn.value, q: searchIn.value });
    syncCountButtons();
    batchBar.refresh();
    if ((ownerScope() || null) !== strip.owner) followOwner();
  };
  // The view is part of the address (?status=&owner=&q=&sort=), so a filtered view can be shared.
  if (params.has('status') && [...statusSel.options].some((o) => o.value === params.get('status'))) statusSel.value = params.get('status');
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
    const typing = /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement?.tagName || '') && document.activeElement.type !== 'checkbox';
    if (ev.key === 'Escape' && detail.id && !document.getElementById('token-dialog').open) {
      ev.preventDefault();
      detail.close();
    } else if (ev.key === 'Escape' && selection.size && !typing && !document.getElementById('token-dialog').open) {
      ev.preventDefault();
      selection.clear();
    } else if (ev.key === 'x' && !ev.ctrlKey && !ev.metaKey && !ev.altKey && !typing) {
      // x: select or unselect the row that has the focus (its checkbox, a button in it)
      const row = document.activeElement?.closest('#tasks > li[data-task-id]');
      if (row && !document.body.classList.contains('no-select')) {
        ev.preventDefault();
        selection.toggle(row.dataset.taskId, !selection.has(row.dataset.taskId), { order: null });
      }
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
    state, stats: connection.stats, heraldStats, servers, topic, connection,
    access: {
      get sub() { return auth.sub; }, get role() { return auth.role; }, get exp() { return auth.exp; },
      get tokenUrl() { return auth.tokenUrl; }, stats: tokenStats,
      can: (action) => auth.can(action),
    },
    taskStats: () => strip.summary(), stripStats, batchStats,
    selection: { get size() { return selection.size; }, ids: () => selection.list() },
    get stopped() { return connection.stopped; },
    get server() { return connection.server.key; },
    reconnect() { connection.reconnect(); },
  };
  connection.start();
}

main();
