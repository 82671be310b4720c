// Batch actions (contract v2 "Batches"): cancel or retry many tasks in one `POST /api/batch`,
// and what to tell the person about the answer. The request goes through api.js (the page's
// token or the publish token, like any action); the rows change only by the pushed events, as
// with single actions.
//
// "Retry all failed" — which failed tasks, and how they are named:
//   - with no search text (and the status filter at "all" or "failed"), the view is something
//     the server can name itself: `"filter":{"status":["failed"],"owner":…}`. This reaches every
//     failed task the header counts, also those the page does not list (a snapshot carries only
//     the most recent finished tasks, --snapshot-terminal), and tasks that fail while the
//     request is on its way;
//   - with a search, the server cannot name the view (it has no text filter): `"ids"` of the
//     failed rows shown, so exactly what the person sees is retried.

import { request, allowed } from './api.js';

/** Items in one request (the contract's limit; more → 413 too_many_items). Longer selections
 * go in several requests of at most this many. */
export const BATCH_MAX_ITEMS = 1000;

const DONE = { cancel: 'cancelled', retry: 'retried' };

/** The answer's results for `body`, one per item, in order; ids in chunks of BATCH_MAX_ITEMS. */
export async function sendBatch(server, body) {
  if (!body.ids || body.ids.length <= BATCH_MAX_ITEMS) return resultsOf(await request(server, 'POST', '/api/batch', body));
  const results = [];
  for (let i = 0; i < body.ids.length; i += BATCH_MAX_ITEMS) {
    results.push(...resultsOf(await request(server, 'POST', '/api/batch', { ...body, ids: body.ids.slice(i, i + BATCH_MAX_ITEMS) })));
  }
  return results;
}

function resultsOf(answer) {
  if (!answer || !Array.isArray(answer.results)) throw new Error('the server’s answer has no results');
  return answer.results;
}

const ok = (item) => item && (item.status === 200 || item.status === 201);

// Why an item was refused, as "<count> <phrase>": by the task's status as the page knows it
// for a 409 (the usual reason: it is not in a state the action applies to), else by status
// and code.
const STATE_PHRASES = {
  queued: ['is queued', 'are queued'],
  running: ['is running', 'are running'],
  cancelling: ['is being cancelled', 'are being cancelled'],
  succeeded: ['already succeeded', 'already succeeded'],
  failed: ['already failed', 'already failed'],
  cancelled: ['is already cancelled', 'are already cancelled'],
};
const CODE_PHRASES = {
  404: ['no longer exists', 'no longer exist'],
  403: ['is not allowed to this token', 'are not allowed to this token'],
  too_many_active: ['would pass the owner’s limit of active tasks', 'would pass the owner’s limit of active tasks'],
  rate_limited: ['is over the owner’s rate limit', 'are over the owner’s rate limit'],
  too_many_tasks: ['would pass the server’s task limit', 'would pass the server’s task limit'],
};

/** The key refused items are grouped by (items with the same key get one phrase). */
function reasonKey(op, item, task) {
  const code = item.error && item.error.code;
  if (item.status === 409 && code === 'invalid_transition' && task && !allowed(op, task.status)) return `state:${task.status}`;
  if (item.status === 404 || item.status === 403) return `http:${item.status}`;
  return `code:${item.status}:${code || ''}`;
}

function phrase(key, n, item) {
  const pick = (pair) => pair[n === 1 ? 0 : 1];
  const [kind, a] = key.split(':');
  if (kind === 'state' && STATE_PHRASES[a]) return pick(STATE_PHRASES[a]);
  if (kind === 'http' && CODE_PHRASES[a]) return pick(CODE_PHRASES[a]);
  const code = item.error && item.error.code;
  if (code && CODE_PHRASES[code]) return pick(CODE_PHRASES[code]);
  return code ? `refused with ${code}` : 'refused';
}

/**
 * What happened to each item, for the person: {ok: [ids], refused: [{id, status, code,
 * message, reason}], text}. `taskOf(id)` is the page's copy of a task (or undefined).
 * text: "3 cancelled", "1 cancelled, 2 asked to stop" (running tasks become cancelling),
 * "18 retried, 2 refused: 2 are running (409)",
 * "3 cancelled, 2 refused: 1 already succeeded (409), 1 no longer exists (404)".
 */
export function summarize(op, results, taskOf = () => undefined) {
  const done = [], refused = [];
  const groups = new Map();          // key → {count, status, item}
  for (const item of results) {
    if (ok(item)) { done.push(item.id); continue; }
    const key = reasonKey(op, item, taskOf(item.id));
    let g = groups.get(key);
    if (!g) { g = { count: 0, status: item.status, item }; groups.set(key, g); }
    g.count += 1;
    refused.push({ id: item.id, status: item.status, code: item.error?.code || '', message: item.error?.message || '', key });
  }
  for (const r of refused) {
    const one = phrase(r.key, 1, r);
    r.reason = `${one.charAt(0).toUpperCase()}${one.slice(1)} (${r.status}${r.code ? ` ${r.code}` : ''})${r.message ? `: ${r.message}` : ''}`;
  }
  // A running task's cancel is a request to its worker (cancelling), not yet a cancel.
  const asked = op === 'cancel' ? results.filter((item) => ok(item) && item.task?.status === 'cancelling').length : 0;
  let text = `${done.length - asked} ${DONE[op] || 'done'}`;
  if (asked) text = `${done.length - asked ? `${text}, ` : ''}${asked} asked to stop`;
  if (!results.length) text = op === 'retry' ? 'No failed tasks to retry' : 'Nothing to do';
  if (refused.length) {
    text += `, ${refused.length} refused: ${[...groups.entries()].map(([key, g]) => `${g.count} ${phrase(key, g.count, g.item)} (${g.status})`).join(', ')}`;
  }
  return { ok: done, refused, text };
}

/**
 * How "Retry all failed" names its tasks for this view (see the top of this file):
 * {body, count, scope} or null when the view shows no failed task.
 *   view:   {status, q, owner} — the filters (owner as the server spells it, or '');
 *   failed: () → ids of the failed rows shown (called only when a search is active);
 *   failedCount: the number of failed tasks the server holds for the owner (or all), or null.
 */
export function retryFailedPlan(view, failed, failedCount) {
  if (view.status && view.status !== 'failed') return null;
  if (!view.q) {
    const filter = { status: ['failed'] };
    if (view.owner) filter.owner = view.owner;
    return { body: { op: 'retry', filter }, count: failedCount, scope: view.owner ? `of ${view.owner}` : '' };
  }
  const ids = failed();
  return ids.length ? { body: { op: 'retry', ids }, count: ids.length, scope: 'shown' } : null;
}
