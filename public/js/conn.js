// The WebSocket connection: one socket to one of the configured servers, subscribed to the
// page's topic (`tasks`, or `owner:<sub>` for a viewer's or worker's token), with the token as
// `token=` when there is one, resuming with since=<last seq>&epoch=<epoch> after any loss.
//
// Reconnects use exponential backoff with full jitter (AWS architecture blog, "Exponential
// Backoff And Jitter"): delay = random(0, min(cap, base · 2^attempt)), so a thousand pages that
// lost the same server do not come back in lock-step. Every failed or lost connection moves on
// to the next server (round robin); `attempt` counts rounds in which every server failed (with
// one server, every failure), so a dead server is skipped quickly while the others are tried,
// and it resets once a connection has stayed up for STABLE_MS. The page shows "offline" when
// the browser is offline or every server failed OFFLINE_AFTER times in a row (it keeps
// retrying at the capped delay meanwhile).
//
// Access (a server with --auth-secret-file): a socket the server closed with 4001 (the token
// expired) or one that never opened (a 401 before the 101 looks like any failed handshake to
// a page) is handed to `checkAccess`, which answers 'now' (a new token: reconnect at once, with
// since=), 'stop' (refused for good: no more retries, the page says why) or 'retry' (not an
// access problem: the usual backoff).

import { state } from './store.js';

const BASE_MS = 500;
const CAP_MS = 30000;
const STABLE_MS = 10000;
const OFFLINE_AFTER = 3;          // failures in a row, per server
// Herald pings idle sockets itself (--ping-interval); this catches a server that stopped
// answering without closing (SIGSTOP, a dead NAT entry) from the page's side.
const IDLE_PING_MS = 20000;
const PONG_WAIT_MS = 10000;

export const stats = { snapshots: 0, resumes: 0, events: 0, connects: 0, failures: 0, lastUrl: null, lastClose: null };

/** Close code of a socket the server ended because its token expired (contract v2). */
export const TOKEN_EXPIRED = 4001;

/** "host:port", "http://host:port" or "https://host" → {key, http, ws}. */
export function parseServer(text) {
  let s = String(text).trim();
  if (!s) return null;
  if (!/^[a-z]+:\/\//i.test(s)) s = `${location.protocol}//${s}`;
  let u;
  try { u = new URL(s); } catch { return null; }
  const secure = u.protocol === 'https:' || u.protocol === 'wss:';
  return { key: u.host, http: `${secure ? 'https' : 'http'}://${u.host}`, ws: `${secure ? 'wss' : 'ws'}://${u.host}` };
}

export function createConnection({ servers, topic = () => 'tasks', token = () => null, onMessage, onState, onLive = () => {}, checkAccess = null }) {
  let index = 0;
  let current = servers[0];       // the server connected to (or last tried)
  let ws = null;
  let isLive = false;
  let attempt = 0;
  let failuresInRow = 0;
  let retryTimer = 0, retryAt = 0, countdownTimer = 0, stableTimer = 0, idleTimer = 0, pongTimer = 0;
  let conn = { state: 'offline', text: 'connecting…' };
  let stopped = false;            // access refused: no more connects until the page reloads
  let checking = false;           // checkAccess is deciding

  document.documentElement.dataset.server = current.key;

  function set(stateName, text) {
    if (conn.state === stateName && conn.text === text) return;
    conn = { state: stateName, text };
    onState(conn);
  }

  function url() {
    const p = new URLSearchParams({ topic: topic() });
    if (state.epoch !== null && state.seq !== null) {
      p.set('since', String(state.seq));
      p.set('epoch', state.epoch);
    }
    const t = token();
    if (t) p.set('token', t);
    return `${current.ws}/ws?${p}`;
  }

  function connect() {
    clearTimeout(retryTimer); clearInterval(countdownTimer);
    retryTimer = 0; countdownTimer = 0;
    if (stopped || checking) return;
    if (navigator.onLine === false) { set('offline', 'offline'); return; }
    current = servers[index];
    const u = url();
    const used = token();
    stats.connects += 1;
    stats.lastUrl = u.replace(/([?&]token=)[^&]*/, '$1…');
    let socket;
    try { socket = new WebSocket(u); } catch { failed({ code: 0, opened: false, token: used }); return; }
    ws = socket;
    isLive = false;
    let opened = false;
    socket.onopen = () => {
      if (socket !== ws) return;
      opened = true;
      document.documentElement.dataset.server = current.key;
      stableTimer = setTimeout(() => { attempt = 0; }, STABLE_MS);
      armIdle();
    };
    socket.onmessage = (ev) => {
      if (socket !== ws) return;
      armIdle();
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if ((msg.type === 'snapshot' || msg.type === 'resumed') && msg.topic === topic()) {
        if (msg.type === 'snapshot') stats.snapshots += 1; else stats.resumes += 1;
        const was = isLive;
        isLive = true;
        failuresInRow = 0;
        set('live', 'live');
        if (!was) onLive();
      }
      onMessage(msg);
    };
    socket.onclose = (ev) => {
      if (socket !== ws) return;
      ws = null;
      stats.lastClose = ev.code;
      failed({ code: ev.code, opened, token: used });
    };
    socket.onerror = () => { /* onclose follows */ };
  }

  function failed(info) {
    clearTimeout(stableTimer); clearTimeout(idleTimer); clearTimeout(pongTimer);
    stats.failures += 1;
    const wasLive = isLive;
    isLive = false;
    if (stopped) return;
    if (checkAccess && (info.code === TOKEN_EXPIRED || !info.opened)) {
      checking = true;
      set('reconnecting', info.code === TOKEN_EXPIRED ? 'renewing access…' : 'connecting…');
      const server = current;
      Promise.resolve(checkAccess({ ...info, server })).catch(() => 'retry').then((verdict) => {
        checking = false;
        if (stopped) return;
        if (verdict === 'stop') { stop('access refused'); return; }
        if (verdict === 'now') { connect(); return; }      // the same server, a new token
        backoff(wasLive);
      });
      return;
    }
    backoff(wasLive);
  }

  function backoff(wasLive) {
    if (!wasLive) failuresInRow += 1;
    index = (index + 1) % servers.length;
    if (index === 0) attempt = Math.min(attempt + 1, 30);
    scheduleReconnect();
  }

  /** No more connects (access refused); the page shows why. */
  function stop(text) {
    stopped = true;
    clearTimeout(retryTimer); clearInterval(countdownTimer);
    clearTimeout(stableTimer); clearTimeout(idleTimer); clearTimeout(pongTimer);
    retryTimer = 0; countdownTimer = 0;
    if (ws) { const s = ws; ws = null; isLive = false; s.close(1000, 'access refused'); }
    set('offline', text);
  }

  function scheduleReconnect() {
    if (navigator.onLine === false) { set('offline', 'offline'); return; }
    const delay = Math.random() * Math.min(CAP_MS, BASE_MS * 2 ** attempt);
    retryAt = performance.now() + delay;
    retryTimer = setTimeout(connect, delay);
    showCountdown();
    countdownTimer = setInterval(showCountdown, 250);
  }

  function showCountdown() {
    if (failuresInRow >= OFFLINE_AFTER * servers.length) { set('offline', 'offline'); return; }
    const left = Math.max(1, Math.ceil((retryAt - performance.now()) / 1000));
    set('reconnecting', `reconnecting in ${left} s`);
  }

  function armIdle() {
    clearTimeout(idleTimer); clearTimeout(pongTimer);
    idleTimer = setTimeout(() => {
      send({ op: 'ping' });
      pongTimer = setTimeout(() => { if (ws) ws.close(4002, 'no answer'); }, PONG_WAIT_MS);
    }, IDLE_PING_MS);
  }

  function send(obj) {
    if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify(obj)); return true; }
    return false;
  }

  window.addEventListener('online', () => {
    attempt = 0; failuresInRow = 0;
    if (!ws && !stopped && !checking) connect();
  });
  window.addEventListener('offline', () => {
    if (stopped) return;
    clearTimeout(retryTimer); clearInterval(countdownTimer);
    set('offline', 'offline');
    if (ws) { const s = ws; ws = null; s.close(); clearTimeout(stableTimer); clearTimeout(idleTimer); clearTimeout(pongTimer); isLive = false; }
  });

  return {
    start: connect,
    send,
    get live() { return isLive; },
    /** The server actions and detail requests go to: the connected one. */
    get server() { return current; },
    get conn() { return conn; },
    get stopped() { return stopped; },
    stop,
    /** Drops the socket as a network failure would (tests, the console). */
    reconnect() { if (ws) ws.close(4000, 'reconnect'); },
  };
}
