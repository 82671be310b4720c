// Row actions (cancel, retry, delete): the pending state of a button and the inline error.
//
// Nothing is applied optimistically. A button shows "Cancelling…" (disabled) from the click
// until the pushed event that carries the change has arrived (its seq is at least the seq of
// the HTTP answer), or the task is gone; a refused request shows the server's message inline.

import { request, ACTIONS } from './api.js';
import { state } from './store.js';

const ERROR_SHOWN_MS = 12000;
// If the event never comes (the socket is down meanwhile), the button is usable again after
// this; the snapshot or resume that follows still brings the row up to date.
const PENDING_LIMIT_MS = 15000;

export function createActions({ server, onChange }) {
  const pending = new Map();   // id → {action, seq (null while the request is out), timer}
  const errors = new Map();    // id → {action, message, timer}

  function clearPending(id) {
    const p = pending.get(id);
    if (!p) return;
    clearTimeout(p.timer);
    pending.delete(id);
    onChange(id);
  }

  function settle(id) {
    const p = pending.get(id);
    if (!p || p.seq === null) return;
    const t = state.tasks.get(id);
    if (!t || (typeof t.seq === 'number' && t.seq >= p.seq)) clearPending(id);
  }

  async function run(id, action) {
    const spec = ACTIONS[action];
    if (!spec || pending.has(id)) return;
    const e = errors.get(id);
    if (e) { clearTimeout(e.timer); errors.delete(id); }
    pending.set(id, { action, seq: null, timer: 0 });
    onChange(id);
    try {
      const body = await request(() => server(), spec.method, spec.path(id));
      const p = pending.get(id);
      if (!p) return;
      p.seq = typeof body?.seq === 'number' ? body.seq : 0;
      p.timer = setTimeout(() => clearPending(id), PENDING_LIMIT_MS);
      settle(id);
    } catch (err) {
      clearPending(id);
      const message = `${spec.label} failed: ${err.message}${err.status ? ` (${err.status})` : ''}`;
      const timer = setTimeout(() => { errors.delete(id); onChange(id); }, ERROR_SHOWN_MS);
      errors.set(id, { action, message, timer });
      onChange(id);
    }
  }

  return {
    run,
    /** Called for every applied event of a task. */
    seen: settle,
    pendingOf: (id) => pending.get(id) || null,
    errorOf: (id) => errors.get(id) || null,
    dismissError(id) {
      const e = errors.get(id);
      if (e) { clearTimeout(e.timer); errors.delete(id); onChange(id); }
    },
  };
}
