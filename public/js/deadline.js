// Deadlines (contract v2 "Deadlines"): when a task will time out or stall, the countdown a row
// shows, and why a task that failed on one failed. Pure functions, no DOM.
//
//   timeout: running (or cancelling) at started_at + timeout_s → failed, error.code "timeout";
//   stall:   running with no change of done/percent/message since (progress_at ?? started_at)
//            + stall_s → failed, error.code "stalled" (heartbeats do not count).
//
// The server decides; the page only counts down to the same instants, from the task's own
// stamps (the authority's clock), so a row says what will happen, not why it happened.

import { parseTime } from './format.js';

/** Under this many seconds left, a countdown is shown as urgent. */
export const DEADLINE_SOON_S = 60;

/**
 * The task's deadlines that still apply, as epoch ms: {timeout, stall}, each null when the
 * task has none or is not in a state it applies to.
 */
export function deadlinesOf(t) {
  const started = parseTime(t && t.started_at);
  let timeout = null, stall = null;
  if (started !== null && (t.status === 'running' || t.status === 'cancelling') && isLimit(t.timeout_s)) {
    timeout = started + t.timeout_s * 1000;
  }
  if (started !== null && t.status === 'running' && isLimit(t.stall_s)) {
    stall = (parseTime(t.progress_at) ?? started) + t.stall_s * 1000;
  }
  return { timeout, stall };
}

/** The nearer of the two deadlines: {kind: 'timeout'|'stall', at (ms)}, or null. On a tie
 * the timeout (the harder limit) is named. */
export function nextDeadline(t) {
  const d = deadlinesOf(t);
  if (d.timeout === null && d.stall === null) return null;
  if (d.stall === null || (d.timeout !== null && d.timeout <= d.stall)) return { kind: 'timeout', at: d.timeout };
  return { kind: 'stall', at: d.stall };
}

/**
 * What a running row shows: {kind, text, soon, due} or null. "times out in 12 min",
 * "stalls in 40 s"; once the instant has passed and the server has not said so yet (its
 * deadline timer is due), "timing out…" / "stalling…".
 */
export function countdownOf(t, now) {
  const d = nextDeadline(t);
  if (!d) return null;
  const left = (d.at - now) / 1000;
  const due = left <= 0;
  const verb = d.kind === 'timeout' ? ['times out in', 'timing out…'] : ['stalls in', 'stalling…'];
  return { kind: d.kind, at: d.at, due, soon: left < DEADLINE_SOON_S, text: due ? verb[1] : `${verb[0]} ${formatLeft(left)}` };
}

/** A failed task's reason in words when a deadline failed it, else null: "timed out after
 * 1 h", "stalled: no progress for 5 min" (from the task's own timeout_s / stall_s). */
export function deadlineFailure(t) {
  const code = t && t.status === 'failed' && t.error ? t.error.code : null;
  if (code === 'timeout') return isLimit(t.timeout_s) ? `timed out after ${formatSpan(t.timeout_s)}` : 'timed out';
  if (code === 'stalled') return isLimit(t.stall_s) ? `stalled: no progress for ${formatSpan(t.stall_s)}` : 'stalled: no progress';
  return null;
}

/** A limit as the task states it, exactly and briefly: 3600 → "1 h", 5400 → "1 h 30 min",
 * 300 → "5 min", 90 → "1 min 30 s", 2.5 → "2.5 s". */
export function formatSpan(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) return '';
  if (seconds < 60) return `${Math.round(seconds * 10) / 10} s`;
  let s = Math.round(seconds);
  const parts = [];
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['min', 60], ['s', 1]]) {
    const n = Math.floor(s / size);
    s -= n * size;
    if (n) parts.push(`${n} ${unit}`);
  }
  return parts.join(' ');
}

/** Time left, as coarse as a glance needs: "40 s" (under 100 s), "12 min", "2 h 05 min",
 * "3 d 4 h". Rounded up under 100 s, so "1 s" shows until the instant itself. */
export function formatLeft(seconds) {
  const s = Math.max(0, seconds);
  if (s < 100) return `${Math.max(1, Math.ceil(s))} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  if (m < 1440) {
    const h = Math.floor(m / 60), rest = m % 60;
    return rest ? `${h} h ${String(rest).padStart(2, '0')} min` : `${h} h`;
  }
  const h = Math.round(s / 3600);
  return h % 24 ? `${Math.floor(h / 24)} d ${h % 24} h` : `${h / 24} d`;
}

function isLimit(v) { return typeof v === 'number' && Number.isFinite(v) && v > 0; }
