// herald.js: the browser client of Herald, one ES module with no dependencies and no build
// step. Herald serves it at /herald.js; it may also be copied into an app as one file (then give
// `servers`, since the default is the origin it was loaded from).
//
//   import { connect } from 'https://herald.example.com/herald.js';   // also defines <herald-task>
//   const c = connect({ servers: ['https://a.example.com', 'https://b.example.com'],
//                       topics: ['task:42'], token: jwt, tokenUrl: '/herald-token',
//                       onEvent(frame) { … }, onState({ state, text, server }) { … } });
//   c.subscribe('owner:alice'); c.unsubscribe('task:42'); c.close();
//
//   <herald-task task="42" servers="https://a.example.com" token-url="/herald-token"></herald-task>
//
// The API is documented in docs/herald-js.md; what it relies on is the wire contract (the
// WebSocket section of docs/protocol.md). In short:
//
// - One WebSocket per connect(), to one of `servers` at a time, with every topic on it. Every
//   server frame goes to onEvent as the server sent it (parsed JSON, not changed).
// - Resume: Herald numbers every event with one `seq` (per authority, across topics) and names
//   its history with an `epoch`. After any drop the socket is reopened with
//   `since=<highest seq seen>&epoch=<epoch>` for the topics that had their snapshot, so the
//   server sends `resumed` and the missed events, or a fresh `recovered:false` snapshot when its
//   history no longer reaches back. Topics that never had a snapshot are subscribed afresh.
// - Reconnects: exponential backoff with full jitter (AWS architecture blog, "Exponential
//   Backoff And Jitter"): delay = random(0, min(cap, base · 2^attempt)), so a thousand pages that
//   lost the same server do not come back in lock-step. Every failed or lost connection moves
//   on to the next server (round robin); `attempt` counts rounds in which every server failed,
//   and resets once a connection stayed up for STABLE_MS. The state is "offline" while the
//   browser is offline or every server failed OFFLINE_AFTER times in a row (retrying meanwhile).
// - Idle ping: after IDLE_PING_MS without a frame the client sends {"op":"ping"}; no answer in
//   PONG_WAIT_MS closes the socket with 4002 and reconnects (a server that stopped answering
//   without closing: SIGSTOP, a dead NAT entry).
// - Tokens (a server with --auth-secret-file): `token` (a JWT, or a function returning one,
//   maybe async) goes on /ws as `token=`. With `tokenUrl` (or a token function) the token is
//   refreshed before it expires and sent on the open socket as {"op":"auth","token":…}, which
//   stays open. A socket closed with 4001 (expired), or a handshake refused with 401 (told from
//   a server that is down by one GET /api/tasks?limit=1), gets a new token and reconnects at
//   once with since=; without a way to get one the client stops and says why (onState
//   {state:'offline', text:'access refused', reason}).

const BASE_MS = 500;
const CAP_MS = 30000;
const STABLE_MS = 10000;
const OFFLINE_AFTER = 3;          // failures in a row, per server
const IDLE_PING_MS = 20000;       // Herald pings idle sockets itself (--ping-interval)
const PONG_WAIT_MS = 10000;

// Token refresh (see refresh() below)
const LEAD_S = 30;                // refresh this long before exp
const JITTER_S = 5;
const FIRST_S = 1;                // a token that is (nearly) due at start: refresh after 1–3 s
const MIN_GAP_S = 10;             // between two refresh attempts
const RETRY_S = 15;               // after a failed refresh, doubling (the old token still works)
const MAX_BACKOFF_S = 300;
const FETCH_TIMEOUT_MS = 10000;
const PROBE_TIMEOUT_MS = 5000;

/** Close code of a socket the server ended because its token expired (contract v2). */
export const TOKEN_EXPIRED = 4001;
/** Close code this client uses when the server stopped answering its ping. */
export const NO_ANSWER = 4002;

/** Counters of the whole module (tests, the console). */
export const stats = {
  connections: 0,   // connect() handles not closed
  sockets: 0,       // WebSockets created, ever
  open: 0,          // WebSockets open now
};
/** Token counters of the whole module. */
export const tokenStats = { tokenFetches: 0, tokenFetchFailures: 0, authSent: 0, authOk: 0, authRefused: 0, renewals: 0 };

const HOME = (() => {
  try { return new URL(import.meta.url); } catch { return null; }
})();

// ------------------------------------------------------------------ servers, tokens

/**
 * "http://host:port", "https://host", "host:port" (the page's scheme) or a location.origin →
 * {key: "host:port", http: "http(s)://host:port", ws: "ws(s)://host:port"}; null when unusable.
 */
export function parseServer(text) {
  let s = String(text ?? '').trim();
  if (!s) return null;
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) {
    const scheme = (typeof location !== 'undefined' && /^https?:$/.test(location.protocol)) ? location.protocol : (HOME ? HOME.protocol : 'http:');
    s = `${scheme}//${s}`;
  }
  let u;
  try { u = new URL(s); } catch { return null; }
  if (!/^(https?|wss?):$/.test(u.protocol) || !u.host) return null;
  const secure = u.protocol === 'https:' || u.protocol === 'wss:';
  return { key: u.host, http: `${secure ? 'https' : 'http'}://${u.host}`, ws: `${secure ? 'wss' : 'ws'}://${u.host}` };
}

/** The origin this module was loaded from (the default server). */
export function defaultServers() {
  if (HOME && /^https?:$/.test(HOME.protocol)) return [HOME.origin];
  return typeof location !== 'undefined' ? [location.origin] : [];
}

/** A list (or a text with spaces or commas) of servers → parsed, duplicates removed. */
function serverList(servers) {
  let list = servers;
  if (typeof list === 'string') list = list.split(/[\s,]+/);
  if (!Array.isArray(list) || !list.length) list = defaultServers();
  const out = [];
  for (const s of list) {
    const p = parseServer(s);
    if (p && !out.some((o) => o.http === p.http)) out.push(p);
  }
  return out;
}

/** The JWT's payload as {sub, role, exp}, or null when it is not a JWT (e.g. a publish token).
 * Read, never verified: the server verifies. */
export function decodeClaims(token) {
  if (typeof token !== 'string') return null;
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    const json = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
    if (!json || typeof json !== 'object') return null;
    return {
      sub: typeof json.sub === 'string' ? json.sub : null,
      role: typeof json.role === 'string' ? json.role : 'viewer',
      exp: typeof json.exp === 'number' && Number.isFinite(json.exp) ? json.exp : null,
    };
  } catch {
    return null;
  }
}

const inflight = new Map();       // tokenUrl → the running fetch

/**
 * GET tokenUrl with `credentials: 'same-origin'` (the app's own session cookie authenticates
 * it) → the `token` of its 200 JSON answer `{"token":"<jwt>"}`, or null for anything else
 * (another status, other JSON, a network error, 10 s without an answer). One fetch per URL at
 * a time.
 */
export function fetchToken(tokenUrl) {
  if (!tokenUrl) return Promise.resolve(null);
  const running = inflight.get(tokenUrl);
  if (running) return running;
  tokenStats.tokenFetches += 1;
  const p = (async () => {
    try {
      const res = await fetch(tokenUrl, {
        credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' },
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      });
      if (res.status !== 200) return null;
      const body = await res.json();
      return body && typeof body.token === 'string' && body.token ? body.token : null;
    } catch {
      return null;
    }
  })().then((t) => {
    inflight.delete(tokenUrl);
    if (!t) tokenStats.tokenFetchFailures += 1;
    return t;
  });
  inflight.set(tokenUrl, p);
  return p;
}

// ------------------------------------------------------------------ the token of a connection

/**
 * Keeps one connection's token fresh. Refresh at `ttl − 30 s − random(0, 5 s)`, where ttl is
 * the server's (its `auth` reply says it) or `exp − now` at start: a new token from tokenUrl
 * (or the token function), sent as {"op":"auth"} on the open socket. Attempts are at least
 * MIN_GAP_S apart and back off when they fail (15 s, 30 s, … 5 min), so clocks that disagree
 * never make it spin; the server's clock (exp − ttl of its reply) corrects the estimate. A
 * token already due at start is refreshed 1–3 s after it.
 */
function createKeeper({ token, tokenUrl, send, onToken }) {
  const source = typeof token === 'function' ? token : null;
  let current = typeof token === 'string' && token ? token : null;
  let claims = decodeClaims(current);
  let offset = 0;                 // server clock − this clock, seconds (from `auth` replies)
  let timer = 0;
  let lastAttempt = -Infinity;    // performance.now() of the last refresh attempt
  let failuresInRow = 0;
  let awaitingReply = false;
  let stopped = false;
  const canRenew = !!(tokenUrl || source);

  const nowS = () => Date.now() / 1000 + offset;
  /** Seconds until exp by the server's clock as best known; null without exp. */
  const ttl = () => (claims && claims.exp !== null ? claims.exp - nowS() : null);

  async function obtain() {
    lastAttempt = performance.now();
    if (tokenUrl) return fetchToken(tokenUrl);
    try {
      const t = await source();
      return typeof t === 'string' && t ? t : null;
    } catch {
      return null;
    }
  }

  function schedule(ttlS) {
    clearTimeout(timer);
    timer = 0;
    if (stopped || !canRenew || !current || ttlS === null) return;
    let delay = ttlS - LEAD_S - Math.random() * JITTER_S;
    if (delay <= 0) delay = FIRST_S + Math.random() * 2;
    if (failuresInRow) delay = Math.min(MAX_BACKOFF_S, RETRY_S * 2 ** (failuresInRow - 1));
    // never two attempts closer than MIN_GAP_S, whatever the clocks say
    const sinceLast = (performance.now() - lastAttempt) / 1000;
    delay = Math.max(delay, MIN_GAP_S - sinceLast);
    timer = setTimeout(refresh, Math.min(delay, 2 ** 31 / 1000 - 1) * 1000);
  }

  function adopt(t) {
    const c = decodeClaims(t);
    // A refreshed token must stand for the same person: the server refuses another sub or
    // role on an open socket.
    if (claims && c && (c.sub !== claims.sub || c.role !== claims.role)) return false;
    const changed = t !== current;
    current = t;
    claims = c;
    if (changed && onToken) onToken(t);
    return true;
  }

  /** The scheduled refresh: obtain, adopt, and tell the open socket. */
  async function refresh() {
    timer = 0;
    const t = await obtain();
    if (stopped) return;
    if (!t || !adopt(t)) {
      failuresInRow += 1;
      schedule(ttl());
      return;
    }
    if (send({ op: 'auth', token: t })) {
      tokenStats.authSent += 1;
      awaitingReply = true;        // the reply (auth or error) schedules the next one
    } else {
      failuresInRow = 0;
      schedule(ttl());             // no socket now: the next connect uses it
    }
  }

  return {
    get token() { return current; },
    get claims() { return claims; },
    canRenew,
    ttl,
    /** Before the first connect: a token from the function or tokenUrl when none was given. */
    async init() {
      if (!current && canRenew) {
        const t = await obtain();
        if (t) adopt(t);
      }
      schedule(ttl());
    },
    /** A connection went live: a refresh whose reply was lost with the old socket is done. */
    onConnected() {
      if (!awaitingReply) return;
      awaitingReply = false;
      failuresInRow = 0;
      schedule(ttl());
    },
    /** The server's `{"type":"auth","exp":N,"ttl":S}` reply to a refresh. */
    onAuthReply(msg) {
      awaitingReply = false;
      tokenStats.authOk += 1;
      failuresInRow = 0;
      if (typeof msg.exp === 'number' && typeof msg.ttl === 'number') offset = (msg.exp - msg.ttl) - Date.now() / 1000;
      schedule(typeof msg.ttl === 'number' ? msg.ttl : ttl());
    },
    /** An error frame answering `op: auth` (invalid_token, forbidden): the socket keeps the old token. */
    onAuthRefused() {
      awaitingReply = false;
      tokenStats.authRefused += 1;
      failuresInRow += 1;
      schedule(ttl());
    },
    /** The server refused `refused` (a 401, a 4001 close): true when there is another token
     * now (refreshed meanwhile, or a new one obtained), false when there is no way to get one. */
    async renew(refused) {
      if (current && current !== refused) return true;
      if (!canRenew || stopped) return false;
      const t = await obtain();
      if (!t || t === refused || !adopt(t)) return false;
      tokenStats.renewals += 1;
      failuresInRow = 0;
      schedule(ttl());
      return true;
    },
    /** After the tab slept (timers throttled), catch up with a refresh that is due. */
    wake() {
      const left = ttl();
      if (timer && left !== null && left < LEAD_S) { clearTimeout(timer); refresh(); }
    },
    stop() { stopped = true; clearTimeout(timer); timer = 0; },
  };
}

// ------------------------------------------------------------------ connect()

/**
 * One live connection to Herald. Options:
 *   servers   origins to use, in order, e.g. ['https://a:8080', location.origin] (a string with
 *             spaces or commas works too); default: the origin this module was loaded from
 *   topics    topics to subscribe: 'tasks', 'owner:<name>', 'task:<id>'
 *   token     a JWT or publish token, or a function returning one (maybe a Promise); optional
 *   tokenUrl  URL answering {"token": jwt} for the app's session (fetched same-origin); optional
 *   onEvent   (frame) → every server frame, parsed, exactly as sent
 *   onState   ({state, text, server, reason}) → state is 'connecting', 'live', 'reconnecting',
 *             'offline' or 'closed'; reason ('missing', 'invalid', 'expired', 'renew-failed')
 *             when access was refused for good
 *   onToken   (token) → the token changed (refreshed); optional
 *   autoStart false: connect only on start() (default true)
 *   pingIdleMs, pongWaitMs  the idle ping: after this long without a frame (20 s), and how
 *             long its answer may take (10 s)
 */
export function connect(options = {}) {
  const { topics = [], token = null, tokenUrl = null, onEvent = () => {}, onState = () => {}, onToken = null } = options;
  const pingIdleMs = options.pingIdleMs > 0 ? options.pingIdleMs : IDLE_PING_MS;
  const pongWaitMs = options.pongWaitMs > 0 ? options.pongWaitMs : PONG_WAIT_MS;
  const servers = serverList(options.servers);
  if (!servers.length) throw new Error('herald: no usable server in `servers`');

  const wanted = new Set();        // topics asked for (subscribe/unsubscribe change it)
  const synced = new Set();        // topics that had their snapshot: resumed with since=
  const refused = new Set();       // topics answered `forbidden`: not subscribed again by itself
  for (const t of topics) if (typeof t === 'string' && t) wanted.add(t);
  let epoch = null;                // the authority's history name, from snapshot/resumed
  let seq = null;                  // highest seq seen on own topics in this epoch

  let index = 0;
  let current = servers[0];        // the server connected to (or last tried)
  let connected = servers[0];      // the last server a socket opened to
  let ws = null;
  let urlTopics = new Set();       // topics of the open socket's URL
  let usedToken = null;            // the token the socket was opened with
  let wsOpened = false;            // the socket got past its handshake
  let isLive = false;
  let attempt = 0;
  let failuresInRow = 0;
  let retryTimer = 0, retryAt = 0, countdownTimer = 0, stableTimer = 0, idleTimer = 0, pongTimer = 0;
  let conn = { state: null, text: '', server: connected.http };
  let stopped = false;             // closed, or access refused: no more connects
  let checking = false;            // an access check is deciding
  let started = false;
  let renewedWithoutLive = 0;
  const cstats = { snapshots: 0, resumes: 0, events: 0, connects: 0, failures: 0, lastUrl: null, lastClose: null };

  const keeper = createKeeper({ token, tokenUrl, send, onToken });
  stats.connections += 1;

  function set(stateName, text, reason) {
    if (conn.state === stateName && conn.text === text && conn.server === connected.http && conn.reason === reason) return;
    conn = { state: stateName, text, server: connected.http };
    if (reason) conn.reason = reason;
    try { onState(conn); } catch (e) { console.error(e); }
  }

  function url(list, resume) {
    const p = new URLSearchParams();
    for (const t of list) p.append('topic', t);
    if (resume) {
      p.set('since', String(seq));
      p.set('epoch', epoch);
    }
    const t = keeper.token;
    if (t) p.set('token', t);
    return `${current.ws}/ws?${p}`;
  }

  function open() {
    clearTimeout(retryTimer); clearInterval(countdownTimer);
    retryTimer = 0; countdownTimer = 0;
    if (stopped || checking) return;
    if (typeof navigator !== 'undefined' && navigator.onLine === false) { set('offline', 'offline'); return; }
    current = servers[index];
    // Topics with a snapshot resume from the connection's seq; new ones subscribe afresh
    // once the socket is open (since= of the URL applies to every topic in it).
    const resume = epoch !== null && seq !== null && [...wanted].some((t) => synced.has(t) && !refused.has(t));
    const list = [...wanted].filter((t) => !refused.has(t) && (!resume || synced.has(t)));
    const u = url(list, resume);
    const used = keeper.token;
    cstats.connects += 1;
    cstats.lastUrl = u.replace(/([?&]token=)[^&]*/, '$1…');
    let socket;
    try { socket = new WebSocket(u); } catch { failed({ code: 0, opened: false, token: used }); return; }
    stats.sockets += 1;
    ws = socket;
    urlTopics = new Set(list);
    isLive = false;
    wsOpened = false;
    let opened = false;
    socket.onopen = () => {
      if (socket !== ws) return;
      opened = true;
      wsOpened = true;
      stats.open += 1;
      connected = current;
      set(conn.state, conn.text);
      stableTimer = setTimeout(() => { attempt = 0; }, STABLE_MS);
      armIdle();
      for (const t of wanted) if (!urlTopics.has(t) && !refused.has(t)) send({ op: 'subscribe', topic: t });
      for (const t of urlTopics) if (!wanted.has(t)) send({ op: 'unsubscribe', topic: t });
      if (!wanted.size) goLive();
    };
    socket.onmessage = (ev) => {
      if (socket !== ws) return;
      armIdle();
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (!msg || typeof msg !== 'object') return;
      take(msg);
      try { onEvent(msg); } catch (e) { console.error(e); }
    };
    socket.onclose = (ev) => {
      if (opened) stats.open -= 1;
      if (socket !== ws) return;
      ws = null;
      cstats.lastClose = ev.code;
      failed({ code: ev.code, opened, token: used });
    };
    socket.onerror = () => { /* onclose follows */ };
    usedToken = used;
  }

  /** Gives up on the open socket at once, as if it had failed with `code`: a server that does
   * not answer would not complete the closing handshake either, and the browser waits long. */
  function drop(code, reason) {
    if (!ws) return;
    const s = ws;
    ws = null;
    try { s.close(code, reason); } catch { /* closing already */ }
    cstats.lastClose = code;
    failed({ code, opened: wsOpened, token: usedToken });
  }

  /** The connection's own bookkeeping of a frame: resume position, live, token replies. */
  function take(msg) {
    const own = typeof msg.topic === 'string' && wanted.has(msg.topic);
    switch (msg.type) {
      case 'snapshot':
        if (!own) return;
        cstats.snapshots += 1;
        if (typeof msg.epoch === 'string' && msg.epoch !== epoch) { epoch = msg.epoch; seq = null; }
        if (typeof msg.seq === 'number') seq = Math.max(seq ?? msg.seq, msg.seq);
        synced.add(msg.topic);
        refused.delete(msg.topic);
        goLive();
        break;
      case 'resumed':
        if (!own) return;
        cstats.resumes += 1;
        if (typeof msg.epoch === 'string') epoch = msg.epoch;
        goLive();
        break;
      case 'task':
      case 'removed':
        if (!own) return;
        cstats.events += 1;
        if (typeof msg.seq === 'number') seq = Math.max(seq ?? msg.seq, msg.seq);
        break;
      case 'auth':
        keeper.onAuthReply(msg);
        break;
      case 'error':
        if (own && msg.code === 'forbidden') {
          refused.add(msg.topic);
          synced.delete(msg.topic);
          if (!isLive && [...wanted].every((t) => refused.has(t))) goLive();
        } else if ((msg.code === 'invalid_token' || msg.code === 'forbidden') && !msg.topic) {
          keeper.onAuthRefused();    // the answer to {"op":"auth"}: the socket keeps its old token
        }
        break;
      default:
        break;
    }
  }

  function goLive() {
    const was = isLive;
    isLive = true;
    failuresInRow = 0;
    set('live', 'live');
    if (!was) { renewedWithoutLive = 0; keeper.onConnected(); }
  }

  function failed(info) {
    clearTimeout(stableTimer); clearTimeout(idleTimer); clearTimeout(pongTimer);
    cstats.failures += 1;
    const wasLive = isLive;
    isLive = false;
    if (stopped) return;
    // A 4001 close, or a socket that never opened (a 401 before the 101 looks like any failed
    // handshake to a page): is it access?
    if (info.code === TOKEN_EXPIRED || !info.opened) {
      checking = true;
      set('reconnecting', info.code === TOKEN_EXPIRED ? 'renewing access…' : 'connecting…');
      const server = current;
      checkAccess({ ...info, server }).catch(() => 'retry').then((verdict) => {
        checking = false;
        if (stopped) return;
        if (verdict === 'now') { open(); return; }      // the same server, a new token
        if (verdict !== 'retry') { stop('access refused', verdict); return; }
        backoff(wasLive);
      });
      return;
    }
    backoff(wasLive);
  }

  /** Why the server would refuse this connection's token with a 401, as well as the client can tell. */
  function refusalReason() {
    if (!keeper.token) return 'missing';
    const left = keeper.ttl();
    if (left !== null && left <= 0) return keeper.canRenew ? 'renew-failed' : 'expired';
    return 'invalid';
  }

  /** A 4001 close or a handshake that failed: 'now' (a new token: reconnect at once), 'retry'
   * (not an access problem: the usual backoff) or a refusal reason (stop). */
  async function checkAccess({ code, server, token: used }) {
    if (code === TOKEN_EXPIRED) {
      if (await keeper.renew(used)) return 'now';
      return keeper.canRenew ? 'renew-failed' : 'expired';
    }
    // The handshake failed: a refused token (401 before the 101) or a server that is not there?
    let status = await probe(server, keeper.token);
    // Another origin's server without CORS cannot be probed: a token the client itself knows
    // to be past its exp (and the server's leeway) is refused all the same.
    if (status === 0 && used && keeper.ttl() !== null && keeper.ttl() < -60) status = 401;
    if (status !== 401) return 'retry';
    if (renewedWithoutLive < 2 && await keeper.renew(used)) { renewedWithoutLive += 1; return 'now'; }
    return refusalReason();
  }

  function backoff(wasLive) {
    if (!wasLive) failuresInRow += 1;
    index = (index + 1) % servers.length;
    if (index === 0) attempt = Math.min(attempt + 1, 30);
    scheduleReconnect();
  }

  function scheduleReconnect() {
    if (typeof navigator !== 'undefined' && navigator.onLine === false) { set('offline', 'offline'); return; }
    const delay = Math.random() * Math.min(CAP_MS, BASE_MS * 2 ** attempt);
    retryAt = performance.now() + delay;
    retryTimer = setTimeout(open, delay);
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
      pongTimer = setTimeout(() => drop(NO_ANSWER, 'no answer'), pongWaitMs);
    }, pingIdleMs);
  }

  function send(obj) {
    if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify(obj)); return true; }
    return false;
  }

  /** No more connects; state `state` with `text`. */
  function halt(stateName, text, reason) {
    stopped = true;
    checking = false;
    keeper.stop();
    clearTimeout(retryTimer); clearInterval(countdownTimer);
    clearTimeout(stableTimer); clearTimeout(idleTimer); clearTimeout(pongTimer);
    retryTimer = 0; countdownTimer = 0;
    if (ws) { const s = ws; ws = null; isLive = false; s.close(1000, text.slice(0, 100)); }
    set(stateName, text, reason);
  }
  function stop(text, reason) { if (!stopped) halt('offline', text, reason); }

  const onOnline = () => {
    attempt = 0; failuresInRow = 0;
    if (started && !ws && !stopped && !checking) open();
  };
  const onOffline = () => {
    if (stopped) return;
    clearTimeout(retryTimer); clearInterval(countdownTimer);
    set('offline', 'offline');
    if (ws) { const s = ws; ws = null; s.close(); clearTimeout(stableTimer); clearTimeout(idleTimer); clearTimeout(pongTimer); isLive = false; }
  };
  const onVisible = () => { if (!document.hidden) keeper.wake(); };
  if (typeof window !== 'undefined') {
    window.addEventListener('online', onOnline);
    window.addEventListener('offline', onOffline);
  }
  if (typeof document !== 'undefined') document.addEventListener('visibilitychange', onVisible);

  function start() {
    if (started || stopped) return;
    started = true;
    set('connecting', 'connecting…');
    keeper.init().then(() => { if (!stopped) open(); });
  }

  const handle = {
    /** Adds a topic: subscribed at once when the socket is open, else with the next connect. */
    subscribe(topic) {
      if (typeof topic !== 'string' || !topic) return;
      refused.delete(topic);
      if (wanted.has(topic)) return;
      wanted.add(topic);
      synced.delete(topic);
      send({ op: 'subscribe', topic });
    },
    /** Drops a topic (the server answers `unsubscribed`). */
    unsubscribe(topic) {
      if (!wanted.delete(topic)) return;
      synced.delete(topic);
      refused.delete(topic);
      send({ op: 'unsubscribe', topic });
    },
    /** Ends the connection for good: no more connects, timers and listeners gone. */
    close(text = 'closed') {
      if (!stopped) halt('closed', text);
      if (typeof window !== 'undefined') {
        window.removeEventListener('online', onOnline);
        window.removeEventListener('offline', onOffline);
      }
      if (typeof document !== 'undefined') document.removeEventListener('visibilitychange', onVisible);
      if (handle.closed) return;
      handle.closed = true;
      stats.connections -= 1;
    },
    closed: false,
    /** Sends one client frame (an object, as JSON) on the open socket; false when none is open. */
    send,
    /** Drops the socket as a network failure would (tests, the console); it resumes. */
    reconnect() { drop(4000, 'reconnect'); },
    start,
    /** The topics asked for. */
    get topics() { return [...wanted]; },
    /** True while the socket is open and its topics are subscribed. */
    get live() { return isLive; },
    /** {state, text, server, reason?}, as last given to onState. */
    get state() { return conn; },
    /** The server the socket is connected to or was last tried: {key, http, ws}. */
    get server() { return current; },
    get servers() { return servers.slice(); },
    /** No more connects: closed, or access refused. */
    get stopped() { return stopped; },
    /** The resume position: {epoch, seq}. */
    get position() { return { epoch, seq }; },
    /** The token in use (refreshed ones included), its claims {sub, role, exp} when a JWT. */
    get token() { return keeper.token; },
    get claims() { return keeper.claims; },
    get tokenUrl() { return tokenUrl; },
    /** Seconds until the token's exp (server clock as best known), null without one. */
    ttl: () => keeper.ttl(),
    /** The server refused `refusedToken` (e.g. an API call's 401): true when there is another token now. */
    renew: (refusedToken) => keeper.renew(refusedToken),
    /** Why a 401 happened, as well as the client can tell: missing, invalid, expired, renew-failed. */
    refusalReason,
    stats: cstats,
  };
  if (options.autoStart !== false) start();
  return handle;
}

/** A cheap authenticated read: the status of `GET /api/tasks?limit=1` with the token (0 when
 * the server cannot be reached, or answers another origin without CORS). Tells a refused token
 * from a server that is down, which a failed WebSocket handshake cannot. */
async function probe(server, token) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    // A server that accepts connections but never answers must not hold the reconnects up.
    const res = await fetch(`${server.http}/api/tasks?limit=1`, { headers, mode: 'cors', cache: 'no-store', signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    return res.status;
  } catch {
    return 0;
  }
}

// ------------------------------------------------------------------ <herald-task>

// Elements with the same servers, token and tokenUrl share one connect(), each subscribing its
// task:<id> topic on it; elements of the same task share the topic and its last state.
const pool = new Map();           // key → {conn, topics: Map<topic, Topic>, members: Set<element>}

/** The last known state of one task:<id> topic. */
function newTopic(id) {
  return { id, task: null, status: 'unknown', epoch: null, at: 0, removed: false, elements: new Set() };
}

function poolKey(servers, token, tokenUrl) {
  return JSON.stringify([serverList(servers).map((s) => s.http), token || null, tokenUrl || null]);
}

function join(el, servers, token, tokenUrl, id) {
  const key = poolKey(servers, token, tokenUrl);
  let share = pool.get(key);
  if (!share) {
    share = { key, topics: new Map(), members: new Set(), conn: null };
    share.conn = connect({
      servers, token: token || null, tokenUrl: tokenUrl || null, topics: [],
      onEvent: (msg) => onShareFrame(share, msg),
      onState: () => { for (const m of share.members) m._heraldDraw(); },
    });
    pool.set(key, share);
  }
  const topic = `task:${id}`;
  let t = share.topics.get(topic);
  if (!t) { t = newTopic(id); share.topics.set(topic, t); }
  t.elements.add(el);
  share.members.add(el);
  share.conn.subscribe(topic);
  return { share, topic: t };
}

function leave(el, share, t) {
  t.elements.delete(el);
  share.members.delete(el);
  // Moving an element in the page disconnects and connects it in one go: decide later.
  queueMicrotask(() => {
    const name = `task:${t.id}`;
    if (!t.elements.size && share.topics.get(name) === t) {
      share.topics.delete(name);
      share.conn.unsubscribe(name);
    }
    if (!share.members.size && pool.get(share.key) === share) {
      pool.delete(share.key);
      share.conn.close();
    }
  });
}

function onShareFrame(share, msg) {
  const t = typeof msg.topic === 'string' ? share.topics.get(msg.topic) : null;
  if (!t) return;
  const epoch = share.conn.position.epoch;
  switch (msg.type) {
    case 'snapshot': {
      const task = Array.isArray(msg.tasks) ? msg.tasks.find((x) => x && x.id === t.id) : null;
      if (task) accept(t, task, msg.epoch ?? epoch);
      else { t.status = 'missing'; t.removed = false; t.epoch = msg.epoch ?? epoch; }
      break;
    }
    case 'task':
      if (msg.task && msg.task.id === t.id) accept(t, msg.task, epoch);
      break;
    case 'removed':
      t.status = 'missing';
      t.removed = true;
      break;
    case 'error':
      if (msg.code === 'forbidden' && !t.removed) t.status = 'forbidden';
      break;
    default:
      return;
  }
  for (const el of t.elements) el._heraldDraw();
}

/**
 * A task state, unless it is older than the one shown, so the bar never goes back: in the same
 * epoch, a lower seq. Across epochs (a server that lost its history, or another authority)
 * seqs do not compare; there, within the same attempt of an unfinished task, less done or a
 * lower percent is older (done never decreases within an attempt) and waits for the next event.
 */
function accept(t, task, epoch) {
  const old = t.task;
  if (old && t.status !== 'missing') {
    if (t.epoch === epoch) {
      if (typeof old.seq === 'number' && typeof task.seq === 'number' && task.seq < old.seq) return;
    } else if (old.attempt === task.attempt && !TERMINAL_STATES.has(task.status) && !TERMINAL_STATES.has(old.status)
      && ((task.done ?? 0) < (old.done ?? 0) || (typeof task.percent === 'number' && typeof old.percent === 'number' && task.percent < old.percent))) {
      return;
    }
  }
  t.task = task;
  t.status = typeof task.status === 'string' ? task.status : 'unknown';
  t.epoch = epoch;
  t.at = performance.now();
  t.removed = false;
}

const STATUS_TEXT = {
  unknown: 'Connecting', queued: 'Queued', running: 'Running', succeeded: 'Done', failed: 'Failed',
  cancelling: 'Cancelling', cancelled: 'Cancelled', missing: 'Not found', forbidden: 'No access', unauthorized: 'No access',
};
const TERMINAL_STATES = new Set(['succeeded', 'failed', 'cancelled']);

/** 42 s, 3 min, 2 h 10 min, 3 d 4 h: how long until done, as a person would say it. */
function formatLeft(s) {
  s = Math.max(0, Math.round(s));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

const CSS = `
:host {
  display: block;
  min-width: 10rem;
  font: var(--herald-font, inherit);
  color: var(--herald-fg, inherit);
  --_accent: var(--herald-accent, #2563eb);
  --_success: var(--herald-success, #15803d);
  --_danger: var(--herald-danger, #c42b1c);
  --_warning: var(--herald-warning, #b45309);
  --_muted: var(--herald-muted, color-mix(in srgb, currentColor 62%, transparent));
  --_track: var(--herald-track, color-mix(in srgb, currentColor 13%, transparent));
  --_height: var(--herald-bar-height, 0.5rem);
  --_radius: var(--herald-radius, 999px);
  --_c: var(--_accent);
}
@supports (color: light-dark(#000, #fff)) {
  /* follows the page's color-scheme (a page without \`color-scheme: dark\` stays light) */
  :host {
    --_accent: var(--herald-accent, light-dark(#2563eb, #6ea8fe));
    --_success: var(--herald-success, light-dark(#15803d, #4ade80));
    --_danger: var(--herald-danger, light-dark(#c42b1c, #ff7b72));
    --_warning: var(--herald-warning, light-dark(#b45309, #fbbf24));
  }
}
:host([hidden]) { display: none; }
:host([status="succeeded"]) { --_c: var(--_success); }
:host([status="failed"]) { --_c: var(--_danger); }
:host([status="cancelling"]), :host([status="cancelled"]), :host([stale]) { --_c: var(--_warning); }
:host([status="queued"]), :host([status="unknown"]), :host([status="missing"]),
:host([status="forbidden"]), :host([status="unauthorized"]) { --_c: var(--_muted); }
.box { background: var(--herald-bg, transparent); border: var(--herald-border, 0); border-radius: var(--herald-box-radius, 0);
  padding: var(--herald-padding, 0); }
.head, .foot { display: flex; align-items: baseline; justify-content: space-between; gap: 0.75em; min-width: 0; }
.head { margin-bottom: 0.45em; }
.title { font-weight: 600; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.status { flex: none; font-size: 0.75em; font-weight: 600; letter-spacing: 0.02em; line-height: 1.5;
  padding: 0 0.65em; border-radius: 999px; color: var(--_c); background: color-mix(in srgb, var(--_c) 14%, transparent);
  white-space: nowrap; }
.track { position: relative; height: var(--_height); border-radius: var(--_radius); background: var(--_track); overflow: hidden; }
.fill { position: absolute; inset: 0 auto 0 0; width: 0; border-radius: inherit; background: var(--_c);
  transition: width 0.35s ease, background-color 0.2s; }
:host([status="missing"]) .track, :host([status="forbidden"]) .track, :host([status="unauthorized"]) .track {
  background: repeating-linear-gradient(-45deg, var(--_track) 0 6px, transparent 6px 12px); }
.indeterminate .fill { width: 35%; animation: slide 1.3s ease-in-out infinite; }
@keyframes slide { from { left: -35%; } to { left: 100%; } }
@media (prefers-reduced-motion: reduce) {
  .fill { transition: none; }
  .indeterminate .fill { animation: none; width: 100%;
    background: repeating-linear-gradient(-45deg, var(--_c) 0 6px, color-mix(in srgb, var(--_c) 35%, transparent) 6px 12px); }
}
.foot { margin-top: 0.4em; font-size: 0.85em; color: var(--_muted); }
.message { min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
:host([status="failed"]) .message { color: var(--_danger); }
.numbers { flex: none; display: flex; gap: 0.6em; font-variant-numeric: tabular-nums; white-space: nowrap; }
.percent { color: var(--herald-fg, currentColor); font-weight: 600; }
.note { font-style: italic; }
[hidden] { display: none !important; }
`;

const TEMPLATE = `<style>${CSS}</style>
<div class="box" part="box">
  <div class="head" part="head"><span class="title" part="title" id="title"></span><span class="status" part="status" id="status" aria-live="polite"></span></div>
  <div class="track" part="track" role="progressbar" aria-labelledby="title" aria-describedby="status message" aria-valuemin="0" aria-valuemax="100"><div class="fill" part="fill"></div></div>
  <div class="foot" part="foot"><span class="message" part="message" id="message"></span><span class="numbers"><span class="note" part="note" hidden></span><span class="eta" part="eta" hidden></span><span class="percent" part="percent" hidden></span></span></div>
</div>`;

// One timer for every element's "… left" text between two events.
const ticking = new Set();
let tickTimer = 0;
function tick(el, on) {
  if (on) ticking.add(el); else ticking.delete(el);
  if (ticking.size && !tickTimer) tickTimer = setInterval(() => { for (const e of ticking) e._heraldDraw(); }, 1000);
  if (!ticking.size && tickTimer) { clearInterval(tickTimer); tickTimer = 0; }
}

const Base = typeof HTMLElement === 'undefined' ? class {} : HTMLElement;

/**
 * <herald-task task="ID" servers="https://a https://b" token="jwt" token-url="/t" label="…">:
 * a live, accessible progress bar of one task. Reflects `status` (queued, running, succeeded,
 * failed, cancelling, cancelled; `unknown` until the first answer, `missing` when there is no
 * such task or it was removed, `forbidden` when the token may not watch it, `unauthorized`
 * when the token was refused), `percent` (integer 0–100, absent while unknown), `stale` and
 * `connection` (connecting, live, reconnecting, offline). Fires `herald-change` (detail:
 * {task, status, percent}) when its task changes. Theming: CSS custom properties
 * --herald-accent, --herald-success, --herald-danger, --herald-warning, --herald-muted,
 * --herald-track, --herald-fg, --herald-bg, --herald-border, --herald-box-radius,
 * --herald-padding, --herald-radius, --herald-bar-height, --herald-font; parts box, head,
 * title, status, track, fill, foot, message, note, eta, percent.
 */
export class HeraldTaskElement extends Base {
  static get observedAttributes() { return ['task', 'servers', 'token', 'token-url', 'label']; }

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = TEMPLATE;
    const q = (s) => root.querySelector(s);
    this._el = {
      title: q('.title'), status: q('.status'), track: q('.track'), fill: q('.fill'),
      message: q('.message'), note: q('.note'), eta: q('.eta'), percent: q('.percent'),
    };
    this._joined = null;
    this._on = false;
    this._last = '';
    this._initial = undefined;      // what to show until the server's first word (initialState)
  }

  connectedCallback() {
    // Until the snapshot arrives, show what is already known instead of an empty bar: the
    // state the page was rendered with (status="running" percent="40") or the one this tab
    // last showed for the task, whichever is further on. Read once, before the first draw
    // replaces the attributes.
    if (this._initial === undefined) this._initial = initialState(this);
    this._on = true;
    this._join();
  }
  disconnectedCallback() { this._on = false; this._leave(); }
  attributeChangedCallback(name, old, value) {
    if (old === value || !this._on) return;      // before connectedCallback: it joins
    if (name === 'label') { this._heraldDraw(); return; }
    if (name === 'task') this._initial = null;    // the page's state was another task's
    this._leave();
    this._join();
  }

  /** The task as last pushed (the server's JSON), or null. */
  get task() { return this._joined ? this._joined.topic.task : null; }
  /** The shared connection this element uses (see connect()), or null. */
  get connection() { return this._joined ? this._joined.share.conn : null; }

  _join() {
    const id = (this.getAttribute('task') || '').trim();
    if (!id) { this._heraldDraw(); return; }
    try {
      this._joined = join(this, this.getAttribute('servers') || undefined, this.getAttribute('token'),
        this.getAttribute('token-url'), id);
    } catch (e) {
      console.error(e);
      this._joined = null;
    }
    this._heraldDraw();
  }

  _leave() {
    if (this._joined) leave(this, this._joined.share, this._joined.topic);
    this._joined = null;
    tick(this, false);
  }

  _heraldDraw() {
    const j = this._joined;
    const t = j ? j.topic : newTopic(this.getAttribute('task') || '');
    const conn = j ? j.share.conn.state : { state: 'offline', text: 'no task given' };
    const task = t.task;
    let status = t.status;
    const initial = status === 'unknown' && !conn.reason ? this._initial : null;
    if (initial) status = initial.status;
    if (status === 'unknown' && conn.reason) status = 'unauthorized';
    let pct = null;
    if (status === 'succeeded') pct = 100;
    else if (initial) pct = initial.percent;
    else if (task && typeof task.percent === 'number' && Number.isFinite(task.percent) && status !== 'missing' && status !== 'forbidden') {
      pct = Math.max(0, Math.min(100, Math.floor(task.percent)));
    }
    const live = !TERMINAL_STATES.has(status) && task && status !== 'missing' && status !== 'forbidden';
    let left = null;
    if (live && status === 'running' && typeof task.eta_s === 'number' && Number.isFinite(task.eta_s)) {
      left = Math.max(0, task.eta_s - (performance.now() - t.at) / 1000);
    }
    tick(this, left !== null);
    const stale = !!(task && task.stale && live);
    const id = t.id;

    // attributes on the element itself, for pages and tests
    this._attr('status', status);
    this._attr('percent', pct === null ? null : String(pct));
    this._attr('stale', stale ? '' : null);
    this._attr('connection', conn.state || 'connecting');

    const title = this.getAttribute('label') || (task && task.title) || (id ? `Task ${id}` : 'Task');
    let chip = STATUS_TEXT[status] || status;
    if (stale) chip = 'Stalled';
    let message = '';
    if (status === 'missing') message = t.removed ? 'This task was removed.' : 'There is no task with this id.';
    else if (status === 'forbidden') message = 'This token may not watch this task.';
    else if (status === 'unauthorized') message = `Access refused (${conn.reason}).`;
    else if (status === 'failed' && task && task.error) message = task.error.message ? `${task.error.message} (${task.error.code})` : task.error.code;
    else if (task) message = task.message || (status === 'succeeded' ? 'Finished.' : status === 'queued' ? 'Waiting to start…' : '');
    else if (!initial) message = 'Loading…';
    let note = '';
    if (j && conn.state !== 'live' && conn.state !== 'connecting' && status !== 'unauthorized') note = conn.reason ? 'access refused' : conn.state === 'offline' ? 'offline' : 'reconnecting…';
    const eta = left === null ? '' : left < 5 ? 'a few seconds left' : `${formatLeft(left)} left`;
    const indeterminate = pct === null && (status === 'running' || status === 'cancelling');

    const e = this._el;
    setText(e.title, title);
    setText(e.status, chip);
    setText(e.message, message);
    e.message.title = message;
    setText(e.note, note); e.note.hidden = !note;
    setText(e.eta, eta); e.eta.hidden = !eta;
    setText(e.percent, pct === null ? '' : `${pct}%`); e.percent.hidden = pct === null;
    e.fill.style.width = indeterminate ? '' : `${pct ?? 0}%`;
    e.track.classList.toggle('indeterminate', indeterminate);
    if (pct === null) e.track.removeAttribute('aria-valuenow'); else e.track.setAttribute('aria-valuenow', String(pct));
    const words = [pct === null ? (indeterminate ? 'progress unknown' : null) : `${pct}%`, chip.toLowerCase(), eta || null];
    e.track.setAttribute('aria-valuetext', words.filter(Boolean).join(', '));
    e.track.setAttribute('aria-busy', String(status === 'unknown' || status === 'running' || status === 'queued' || status === 'cancelling'));

    const sig = `${status}|${pct}|${task ? task.seq : ''}`;
    if (sig !== this._last) {
      this._last = sig;
      if (task && t.status === status) remember(id, status, pct);
      this.dispatchEvent(new CustomEvent('herald-change', { bubbles: true, composed: true, detail: { task, status, percent: pct } }));
    }
  }

  _attr(name, value) {
    if (value === null) { if (this.hasAttribute(name)) this.removeAttribute(name); } else if (this.getAttribute(name) !== value) this.setAttribute(name, value);
  }
}

// What to show before the server's first word. A reload must not flash an empty bar, nor show
// less than the page before it did: the page's own render (status=, percent=, read by the app
// from GET /api/tasks/ID) can be a moment older than the last event the previous page got
// while the reload was on its way, so the tab also remembers (sessionStorage) the last state
// it showed for each task, and the further on of the two is shown. Within an attempt a task
// only moves forward; the snapshot that follows replaces either.
const RANK = { queued: 0, running: 1, cancelling: 2, succeeded: 3, failed: 3, cancelled: 3 };
const MEMORY_PREFIX = 'herald-task:';

function taskState(status, percentText) {
  if (!(status in RANK)) return null;
  const n = Number.parseFloat(percentText ?? '');
  return { status, percent: Number.isFinite(n) ? Math.max(0, Math.min(100, Math.floor(n))) : null };
}

function initialState(el) {
  const id = (el.getAttribute('task') || '').trim();
  const page = taskState(el.getAttribute('status'), el.getAttribute('percent'));
  let seen = null;
  try {
    const v = JSON.parse(sessionStorage.getItem(MEMORY_PREFIX + id) || 'null');
    if (v && typeof v === 'object') seen = taskState(v.status, v.percent === null ? '' : String(v.percent));
  } catch { /* no storage (privacy mode, sandboxed frame) */ }
  if (!page || !seen) return page || seen;
  const ahead = RANK[seen.status] - RANK[page.status] || (seen.percent ?? -1) - (page.percent ?? -1);
  return ahead > 0 ? seen : page;
}

function remember(id, status, percent) {
  if (!id || !(status in RANK)) return;
  try { sessionStorage.setItem(MEMORY_PREFIX + id, JSON.stringify({ status, percent })); } catch { /* full or absent */ }
}

function setText(el, text) { if (el.textContent !== text) el.textContent = text; }

if (typeof customElements !== 'undefined' && !customElements.get('herald-task')) {
  customElements.define('herald-task', HeraldTaskElement);
}
