// Access control on the dashboard's side: where the page's token comes from, what its payload
// says (sub, role, exp — read, never verified: the server verifies) and what the role may do.
// Keeping the token fresh (tokenUrl, {"op":"auth"} on the open socket, a new token after a
// 4001 close or a refused handshake) is the connection's job: herald.js, the same module any
// app's page uses.
//
// Where the token comes from, first found wins:
//   1. `?token=<jwt>` in the page's address (then removed from the address bar, and kept in
//      sessionStorage so that reloading the tab works);
//   2. `window.heraldConfig.token`, set by the embedding app before app.js loads;
//   3. `tokenUrl` (from window.heraldConfig or /config.json): fetched once at start;
//   4. the token this tab got from 1. earlier (sessionStorage).
// Without any, the page connects without a token (a server without --auth-secret-file).
// The tokenUrl contract is herald.js's fetchToken(): `GET <tokenUrl>` with
// `credentials: 'same-origin'` answering 200 `{"token":"<jwt>"}`.

import { decodeClaims, fetchToken } from '../herald.js';

export { decodeClaims };

const STORE_KEY = 'herald.token';

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
 * The page's access: its token (the connection's once `bind` gave it one: refreshed tokens
 * included) and what it says. `onChange()` is called when the token changes.
 */
export function createAuth({ token, tokenUrl, fromAddress, onChange }) {
  let first = token || null;
  let conn = null;
  if (fromAddress && first) store(first);

  const current = () => (conn ? conn.token : first);
  const claims = () => (conn ? conn.claims : decodeClaims(first));

  return {
    get token() { return current(); },
    get claims() { return claims(); },
    get sub() { const c = claims(); return c ? c.sub : null; },
    /** null when there is no token or it is not a JWT the page can read. */
    get role() { const c = claims(); return c ? c.role : null; },
    get exp() { const c = claims(); return c ? c.exp : null; },
    get tokenUrl() { return tokenUrl; },
    can(action) { return can(this.role, action); },
    /** May the person act on this task (the role allows it, and it is theirs unless admin)? */
    mayAct(task, action) {
      const role = this.role;
      if (!can(role, action)) return false;
      if (role === null || can(role, 'all-owners')) return true;
      return !!task && task.owner === this.sub;
    },
    /** At start, with no token given: one from tokenUrl, else this tab's earlier one. */
    async init() {
      if (!first && tokenUrl) first = await fetchToken(tokenUrl);
      if (!first && stored()) first = stored();
      if (first) onChange();
    },
    /** From now on the token is the connection's (herald.js connect()). */
    bind(connection) { conn = connection; },
    /** The connection refreshed the token (connect()'s onToken). */
    onToken(t) {
      if (stored() !== null || fromAddress) store(t);
      onChange();
    },
    /** The token was refused for good: forget it (a reload must not retry it). */
    forget() {
      if (stored() === current()) store(null);
    },
  };
}
