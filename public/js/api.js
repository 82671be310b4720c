// Task actions over HTTP (cancel, retry, delete) against the server the page is connected to,
// with the page's token (access control, js/auth.js) or the publish token when the server asks
// for one.
//
// The result of an action is never applied here: the row changes when the pushed `task` or
// `removed` event arrives. With a page token (a JWT), every request carries it as
// `Authorization: Bearer`; a 401 renews it from tokenUrl once and retries, else the page shows
// that access was refused (`access.refused`). Without one (a server without
// --auth-secret-file), a 401 opens the publish-token dialog, stores the token in
// sessionStorage and retries; a 401 with a stored token clears it and asks again.

const TOKEN_KEY = 'herald.publishToken';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function storedToken() {
  try { return sessionStorage.getItem(TOKEN_KEY); } catch { return null; }
}
function storeToken(t) {
  try { if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY); } catch { /* private mode */ }
}

// ------------------------------------------------------------------ the page's token

// Set by app.js: token() → the page's token or null; renew(refused) → there is another one now;
// refused(body) → tell the person (the answer's JSON, if any).
let access = { token: () => null, renew: async () => false, refused: () => {} };
export function configureAccess(a) { access = { ...access, ...a }; }

// ------------------------------------------------------------------ the token dialog

let asking = null;     // one dialog for every request that got a 401 at the same time

function askToken(reason) {
  if (asking) return asking;
  const dialog = document.getElementById('token-dialog');
  const input = document.getElementById('token-input');
  const why = document.getElementById('token-reason');
  if (why) why.textContent = reason;
  input.value = '';
  const opener = document.activeElement;
  const cancel = document.getElementById('token-cancel');
  if (cancel && !cancel.dataset.wired) {
    cancel.dataset.wired = '1';
    cancel.addEventListener('click', () => dialog.close(''));
  }
  asking = new Promise((resolve) => {
    dialog.returnValue = '';
    dialog.addEventListener('close', () => {
      const token = dialog.returnValue === 'ok' ? input.value.trim() : '';
      input.value = '';
      asking = null;
      if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
      resolve(token || null);
    }, { once: true });
    dialog.showModal();
    input.focus();
  });
  return asking;
}

// ------------------------------------------------------------------ requests

/**
 * method + path on `server` (from the connection: {http}), with `body` (sent as JSON) if
 * given; resolves with the JSON answer or rejects with an ApiError that carries the server's
 * message.
 */
export async function request(server, method, path, body) {
  let renewed = false;
  const payload = body === undefined ? undefined : JSON.stringify(body);
  for (let round = 0; round < 5; round += 1) {
    const session = access.token();
    const token = session || storedToken();
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (payload !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(`${server().http}${path}`, { method, headers, body: payload, mode: 'cors', cache: 'no-store' });
    } catch (e) {
      throw new ApiError(0, 'network', `could not reach ${server().key}`);
    }
    let answer = null;
    try { answer = await res.json(); } catch { /* empty or not JSON */ }
    if (res.status === 401 && session) {
      if (!renewed && await access.renew(session)) { renewed = true; continue; }
      access.refused(answer);
      throw new ApiError(401, 'unauthorized', 'access refused: the server did not accept this page’s token');
    }
    if (res.status === 401) {
      if (token) storeToken(null);
      const fresh = await askToken(token
        ? 'The stored token was refused. Enter a valid publish token.'
        : 'This server needs a publish token to change tasks.');
      if (!fresh) throw new ApiError(401, 'unauthorized', 'a publish token is needed');
      storeToken(fresh);
      continue;
    }
    if (!res.ok) {
      const err = answer && answer.error;
      throw new ApiError(res.status, err?.code || `http_${res.status}`, err?.message || `${res.status} ${res.statusText}`);
    }
    return answer;
  }
  throw new ApiError(401, 'unauthorized', 'the token was refused');
}

export const ACTIONS = {
  cancel: { method: 'POST', path: (id) => `/api/tasks/${encodeURIComponent(id)}/cancel`, pending: 'Cancelling…', label: 'Cancel' },
  retry: { method: 'POST', path: (id) => `/api/tasks/${encodeURIComponent(id)}/retry`, pending: 'Retrying…', label: 'Retry' },
  delete: { method: 'DELETE', path: (id) => `/api/tasks/${encodeURIComponent(id)}`, pending: 'Deleting…', label: 'Delete' },
};

/** Which actions the contract allows from a status. */
export function allowed(action, status) {
  switch (action) {
    case 'cancel': return status === 'queued' || status === 'running';
    case 'retry': return status === 'failed' || status === 'cancelled';
    case 'delete': return status === 'succeeded' || status === 'failed' || status === 'cancelled';
    default: return false;
  }
}
