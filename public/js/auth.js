// Access control on the page's side: the token this page acts with, what its payload says
// (sub, role, exp — read, never verified: the server verifies), what the role may do, and
// keeping the token fresh.
//
// Where the token comes from, first found wins:
//   1. `?token=<jwt>` in the page's address (then removed from the address bar, and kept in
//      sessionStorage so that reloading the tab works);
//   2. `window.heraldConfig.token`, set by the embedding app before app.js loads;
//   3. the token this tab got from 1. earlier (sessionStorage);
//   4. `tokenUrl` (from window.heraldConfig or /config.json): fetched once at start.
// Without any, the page connects without a token (a server without --auth-secret-file).
//
// tokenUrl contract: `GET <tokenUrl>` with `credentials: 'same-origin'` (the app's own session
// cookie authenticates it) must answer 200 with JSON `{"token":"<jwt>"}`, a token for the same
// `sub` and `role`. Anything else (another status, other JSON, a network error) is a failed
// refresh.
//
// Refresh: at `ttl − 30 s − random(0, 5 s)`, where ttl is the server's (the `auth` reply says
// it) or `exp − now` at start, the page fetches tokenUrl and sends `{"op":"auth","token":…}` on
// the open socket, which stays open; API calls and later reconnects use the new token. Attempts
// are at least MIN_GAP_S apart and back off when they fail (15 s, 30 s, … 5 min), so clocks
// that disagree never make it spin; the server's own clock (exp − ttl of its reply) corrects
// the page's estimate. A token already due at start is refreshed 1–3 s after it.

const STORE_KEY = 'herald.token';
const LEAD_S = 30;               // refresh this long before exp
const JITTER_S = 5;
const FIRST_S = 1;               // a token that is (nearly) due at start: refresh after 1–3 s
const MIN_GAP_S = 10;            // between two refresh attempts
const RETRY_S = 15;              // after a failed refresh, doubling (the old token still works)
const MAX_BACKOFF_S = 300;

// ------------------------------------------------------------------ what a role may do

/**
 * The one place that says which role may do what (the server's rules, contract v2 "Access"):
 *   viewer: cancel, retry, delete — its own tasks, the only ones it sees;
 *   worker: also create tasks (and report on them: start, progress, complete, fail…);
 *   admin:  everything for every owner, topic `tasks` (all owners) and /metrics.
 * `role` null: no token, or one the page cannot read — the server decides (everything shows).
 */
const RULES = {
  viewer: new Set(['cancel', 'retry', 'delete']),
  worker: new Set(['cancel', 'retry', 'delete', 'create', 'report']),
  admin: new Set(['cancel', 'retry', 'delete', 'create', 'report', 'all-owners', 'metrics']),
};

export function can(role, action) {
  if (role === null || role === undefined) return true;
  const rules = RULES[role];
  return !!rules && rules.has(action);
}

// ------------------------------------------------------------------ the token

/** The JWT's payload as {sub, role, exp}, or null when it is not a JWT (e.g. a publish token). */
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

export const authStats = { tokenFetches: 0, tokenFetchFailures: 0, authSent: 0, authOk: 0, authRefused: 0, renewals: 0 };

function store(t) {
  try { if (t) sessionStorage.setItem(STORE_KEY, t); else sessionStorage.removeItem(STORE_KEY); } catch { /* private mode */ }
}
function stored() {
  try { return sessionStorage.getItem(STORE_KEY); } catch { return null; }
}

/** `?token=` out of the visible address (screenshots, bookmarks, history); returns it. */
export function takeTokenFromAddress() {
  const params = new URLSearchParams(location.search);
  if (!params.has('token')) return null;
  const token = params.get('token');
  params.delete('token');
  const qs = params.toString();
  history.replaceState(history.state, '', `${location.pathname}${qs ? `?${qs}` : ''}${location.hash}`);
  return token || null;
}

/**
 * The page's access state. `send(obj)` sends on the open socket (false when none is open).
 * `onChange()` is called when the token or what it says changes.
 */
export function createAuth({ token, tokenUrl, fromAddress, send, onChange }) {
  let current = token || null;
  let claims = decodeClaims(current);
  let offset = 0;                 // server clock − this clock, seconds (from `auth` replies)
  let timer = 0;
  let lastAttempt = -Infinity;    // performance.now() of the last refresh attempt
  let failuresInRow = 0;
  let inflight = null;            // the running fetch of tokenUrl
  let awaitingReply = false;
  if (fromAddress && current) store(current);

  const nowS = () => Date.now() / 1000 + offset;
  /** Seconds until exp by the server's clock as best known; null without exp. */
  const ttl = () => (claims && claims.exp !== null ? claims.exp - nowS() : null);

  function schedule(ttlS) {
    clearTimeout(timer);
    timer = 0;
    if (!tokenUrl || !current || ttlS === null) return;
    let delay = ttlS - LEAD_S - Math.random() * JITTER_S;
    if (delay <= 0) delay = FIRST_S + Math.random() * 2;
    if (failuresInRow) delay = Math.min(MAX_BACKOFF_S, RETRY_S * 2 ** (failuresInRow - 1));
    // never two attempts closer than MIN_GAP_S, whatever the clocks say
    const sinceLast = (performance.now() - lastAttempt) / 1000;
    delay = Math.max(delay, MIN_GAP_S - sinceLast);
    timer = setTimeout(refresh, Math.min(delay, 2 ** 31 / 1000 - 1) * 1000);
  }

  /** GET tokenUrl → the token, or null (documented above). One fetch at a time. */
  function fetchToken() {
    if (!tokenUrl) return Promise.resolve(null);
    if (inflight) return inflight;
    authStats.tokenFetches += 1;
    lastAttempt = performance.now();
    inflight = (async () => {
      try {
        const res = await fetch(tokenUrl, {
          credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' }, signal: AbortSignal.timeout(10000),
        });
        if (res.status !== 200) return null;
        const body = await res.json();
        return body && typeof body.token === 'string' && body.token ? body.token : null;
      } catch {
        return null;
      }
    })().then((t) => {
      inflight = null;
      if (!t) authStats.tokenFetchFailures += 1;
      return t;
    });
    return inflight;
  }

  function adopt(t) {
    const c = decodeClaims(t);
    // A refreshed token must stand for the same person: the server refuses another sub or
    // role on an open socket, and the page's view (owner:<sub>) was built for this one.
    if (claims && c && (c.sub !== claims.sub || c.role !== claims.role)) return false;
    const changed = t !== current;
    current = t;
    claims = c;
    if (stored() !== null || fromAddress) store(t);
    if (changed) onChange();
    return true;
  }

  /** The scheduled refresh: fetch, adopt, and tell the open socket. */
  async function refresh() {
    timer = 0;
    const t = await fetchToken();
    if (!t || !adopt(t)) {
      failuresInRow += 1;
      schedule(ttl());
      return;
    }
    if (send({ op: 'auth', token: t })) {
      authStats.authSent += 1;
      awaitingReply = true;        // the reply (auth or error) schedules the next one
    } else {
      failuresInRow = 0;
      schedule(ttl());             // no socket now: the next connect uses it
    }
  }

  return {
    get token() { return current; },
    get claims() { return claims; },
    get sub() { return claims ? claims.sub : null; },
    /** null when there is no token or it is not a JWT the page can read. */
    get role() { return claims ? claims.role : null; },
    get exp() { return claims ? claims.exp : null; },
    get tokenUrl() { return tokenUrl; },
    ttl,
    can(action) { return can(this.role, action); },
    /** May the person act on this task (the role allows it, and it is theirs unless admin)? */
    mayAct(task, action) {
      const role = this.role;
      if (!can(role, action)) return false;
      if (role === null || can(role, 'all-owners')) return true;
      return !!task && task.owner === claims.sub;
    },
    /** At start, with no token given: one from tokenUrl, else this tab's earlier one. */
    async init() {
      if (!current && tokenUrl) {
        const t = await fetchToken();
        if (t) adopt(t);
      }
      if (!current && stored()) { current = stored(); claims = decodeClaims(current); onChange(); }
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
      authStats.authOk += 1;
      failuresInRow = 0;
      if (typeof msg.exp === 'number' && typeof msg.ttl === 'number') offset = (msg.exp - msg.ttl) - Date.now() / 1000;
      schedule(typeof msg.ttl === 'number' ? msg.ttl : ttl());
    },
    /** An error frame answering `op: auth` (invalid_token, forbidden): the socket keeps the old token. */
    onAuthRefused() {
      awaitingReply = false;
      authStats.authRefused += 1;
      failuresInRow += 1;
      schedule(ttl());
    },
    get awaitingReply() { return awaitingReply; },
    /**
     * The server refused `refused` (a 401, or a socket closed with 4001): true when the page
     * has another token now (already refreshed meanwhile, or a new one from tokenUrl), false
     * when there is no way to get one.
     */
    async renew(refused) {
      if (current && current !== refused) return true;
      if (!tokenUrl) return false;
      const t = await fetchToken();
      if (!t || t === refused || !adopt(t)) return false;
      authStats.renewals += 1;
      failuresInRow = 0;
      schedule(ttl());
      return true;
    },
    /** The token was refused for good: forget it (a reload must not retry it). */
    forget() {
      clearTimeout(timer);
      timer = 0;
      if (stored() === current) store(null);
    },
    /** After the tab slept (timers throttled), catch up with a refresh that is due. */
    wake() {
      const left = ttl();
      if (timer && left !== null && left < LEAD_S) { clearTimeout(timer); refresh(); }
    },
  };
}
