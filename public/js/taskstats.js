// Statistics of finished tasks over a sliding window (contract v2 "Statistics"), computed in the
// page: success rate, duration percentiles, errors by code and finishes per minute. No DOM.
//
// Two parts, added together:
//
//   held    the tasks the page holds (snapshot + pushed events) that finished within the
//           window: exact, per task. Updated by every event that makes a task finished, takes
//           it back (retry) or removes it; finishes leave the window by their own finished_at.
//   earlier what `GET /api/stats` said (once, at `at` by the authority's clock) about tasks
//           the page does not hold — those beyond the snapshot's terminal window — found as
//           the answer minus what the page held *as of `at`* (the `seen` tally), per minute.
//           Its minutes leave the window as time passes, so once the page has watched for a
//           whole window this part is empty and every figure is exact.
//
// Definitions kept from the contract: success_rate = succeeded / finished (null when none);
// durations = finished_at − started_at of succeeded tasks; percentiles by nearest rank (the
// ⌈p/100 · N⌉-th smallest). The earlier part has no per-task durations, only the answer's
// p50/p90/p99/max: while it holds succeeded tasks the percentiles merge the page's exact
// durations with that distribution (piecewise linear between the answer's percentiles) and are
// marked approximate.
//
// Cost: an event that neither finishes nor un-finishes a task costs two status checks; one that
// does costs a binary insert into sorted arrays. summary() is O(minutes in the window + log n).

import { parseTime } from './format.js';
import { TERMINAL } from './store.js';

export const STATS_WINDOW_S = 3600;
export const MINUTE_MS = 60000;
const PERCENTILES = [50, 90];
// Bisection steps for a merged percentile: 2^-50 of the value range, far below a millisecond.
const BISECT_STEPS = 50;

/** The nearest-rank percentile of ascending `sorted`: the ⌈p/100 · N⌉-th value; null if empty. */
export function nearestRank(sorted, p) {
  if (!sorted.length) return null;
  const rank = Math.max(1, Math.floor((p * sorted.length + 99) / 100));
  return sorted[Math.min(rank, sorted.length) - 1];
}

/** The first ms of the UTC minute of `ms`. */
export function minuteOf(ms) { return Math.floor(ms / MINUTE_MS) * MINUTE_MS; }

/** What one finished task adds: {at, minute, status, dur (ms, succeeded only), code}, or null. */
export function finishOf(t) {
  if (!t || !TERMINAL.has(t.status)) return null;
  const at = parseTime(t.finished_at);
  if (at === null) return null;
  const started = parseTime(t.started_at);
  return {
    at, minute: minuteOf(at), status: t.status,
    dur: t.status === 'succeeded' && started !== null ? Math.max(0, at - started) : null,
    code: t.status === 'failed' && t.error && typeof t.error.code === 'string' ? t.error.code : null,
  };
}

function lowerBound(a, v) {
  let lo = 0, hi = a.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (a[mid] < v) lo = mid + 1; else hi = mid; }
  return lo;
}
/** How many of ascending `a` are ≤ v. */
function countAtMost(a, v) {
  let lo = 0, hi = a.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (a[mid] <= v) lo = mid + 1; else hi = mid; }
  return lo;
}

/** A bag of finishes: counts by status, per minute, by error code, sorted durations. */
class Tally {
  constructor() { this.clear(); }
  clear() {
    this.n = { succeeded: 0, failed: 0, cancelled: 0 };
    this.minutes = new Map();      // minute → {succeeded, failed, cancelled}
    this.errors = new Map();       // code → count
    this.durations = [];           // ms, ascending
  }
  add(r, sign) {
    this.n[r.status] += sign;
    let m = this.minutes.get(r.minute);
    if (!m) { m = { succeeded: 0, failed: 0, cancelled: 0 }; this.minutes.set(r.minute, m); }
    m[r.status] += sign;
    if (!m.succeeded && !m.failed && !m.cancelled) this.minutes.delete(r.minute);
    if (r.code !== null) {
      const c = (this.errors.get(r.code) || 0) + sign;
      if (c > 0) this.errors.set(r.code, c); else this.errors.delete(r.code);
    }
    if (r.dur !== null) {
      const i = lowerBound(this.durations, r.dur);
      if (sign > 0) this.durations.splice(i, 0, r.dur);
      else if (this.durations[i] === r.dur) this.durations.splice(i, 1);
    }
  }
}

/** The answer's percentiles as a CDF, piecewise linear through (value, fraction) points. */
function cdfOf(q, floor) {
  const pts = [[Math.min(floor, q.p50), 0], [q.p50, 0.5], [q.p90, 0.9], [q.p99 ?? q.max, 0.99], [q.max, 1]];
  return (v) => {
    if (v < pts[0][0]) return 0;
    let f = 0;
    for (let i = 0; i < pts.length; i += 1) {
      const [x, p] = pts[i];
      if (v >= x) { f = p; continue; }
      const [x0, p0] = pts[i - 1];
      return p0 + (p - p0) * (v - x0) / (x - x0);
    }
    return f;
  };
}

/**
 * The p-th percentile (nearest rank) of `held` (ascending ms) together with `extra` more
 * durations distributed as `cdf` over [lo, hi]: the smallest v with
 * |held ≤ v| + extra · cdf(v) ≥ ⌈p/100 · N⌉. Exact when extra is 0.
 */
export function mergedPercentile(held, extra, cdf, lo, hi, p) {
  const n = held.length + extra;
  if (!n) return null;
  if (!extra || !cdf) return nearestRank(held, p);
  const rank = Math.max(1, Math.floor((p * n + 99) / 100));
  const count = (v) => countAtMost(held, v) + extra * cdf(v);
  if (count(lo) >= rank) return lo;
  for (let i = 0; i < BISECT_STEPS; i += 1) {
    const mid = (lo + hi) / 2;
    if (count(mid) >= rank) hi = mid; else lo = mid;
  }
  return hi;
}

/**
 * One scope's statistics: all owners (owner null) or one owner's tasks. `reset` with the tasks
 * the page holds, `onTask` for every change, `setBaseline` with the /api/stats answer.
 */
export function createTaskStats({ windowS = STATS_WINDOW_S } = {}) {
  const windowMs = windowS * 1000;
  let owner = null;
  const held = new Map();           // id → finish (within the window, in scope)
  let queue = [];                   // held finishes by `at` (lazy removal: f.gone)
  const tally = new Tally();
  const seen = new Map();           // id → finish, as held at base.at (see above)
  const seenTally = new Tally();
  let base = null;                  // the /api/stats answer, parsed
  let counts = null;                // the scope's task counts by status (from base, then live)

  const inScope = (t) => owner === null || (!!t && t.owner === owner);

  function insertQueue(f) {
    let lo = 0, hi = queue.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (queue[mid].at <= f.at) lo = mid + 1; else hi = mid; }
    queue.splice(lo, 0, f);
  }

  function setHeld(id, t, now) {
    const old = held.get(id);
    let f = t && inScope(t) ? finishOf(t) : null;
    if (f && f.at < now - windowMs) f = null;
    if (old) { old.gone = true; tally.add(old, -1); held.delete(id); }
    if (f) { f.id = id; held.set(id, f); tally.add(f, +1); insertQueue(f); }
  }

  function setSeen(id, t) {
    const old = seen.get(id);
    let f = t && inScope(t) ? finishOf(t) : null;
    if (f && (f.at > base.at || f.at < base.at - windowMs)) f = null;
    if (old) { seenTally.add(old, -1); seen.delete(id); }
    if (f) { seen.set(id, f); seenTally.add(f, +1); }
  }

  function rebuildSeen() {
    seen.clear();
    seenTally.clear();
    for (const [id, f] of held) {
      if (f.at <= base.at && f.at >= base.at - windowMs) { seen.set(id, f); seenTally.add(f, +1); }
    }
  }

  function expire(now) {
    const edge = now - windowMs;
    let k = 0;
    while (k < queue.length && queue[k].at < edge) {
      const f = queue[k];
      if (!f.gone) { f.gone = true; tally.add(f, -1); held.delete(f.id); }
      k += 1;
    }
    if (k) queue = queue.slice(k);
  }

  return {
    get owner() { return owner; },
    get hasBaseline() { return base !== null; },
    get baselineAt() { return base ? base.at : null; },
    /** The scope's counts by status ({queued…cancelled: n}) or null before a baseline. */
    get counts() { return counts; },

    /** A new scope (or a snapshot that replaced every task): rebuilds the held part. The
     * baseline is kept for the same scope (the refetch after a snapshot replaces it). */
    reset(scopeOwner, tasks, now) {
      if (scopeOwner !== owner) { base = null; counts = null; seen.clear(); seenTally.clear(); }
      owner = scopeOwner;
      held.clear(); queue = []; tally.clear();
      for (const t of tasks) setHeld(t.id, t, now);
      if (base) rebuildSeen();
    },

    /** Every applied event: `old` the task before (undefined when new), `t` after (undefined
     * when removed). True when a figure may have changed. */
    onTask(id, old, t, now) {
      const was = !!old && TERMINAL.has(old.status);
      const is = !!t && TERMINAL.has(t.status);
      let changed = false;
      if (was || is || held.has(id)) { setHeld(id, t, now); changed = true; }
      if (!base) return changed;
      if (!t) {                          // removed (deletes carry no time: taken as after the baseline)
        if (counts && old && inScope(old) && counts[old.status] > 0) { counts[old.status] -= 1; changed = true; }
        return changed;
      }
      const moved = counts && inScope(t) && (!old || old.status !== t.status);
      if (!moved && !was && !is && !seen.has(id)) return changed;     // progress: nothing to count
      const at = parseTime(t.updated_at);
      if (at === null || at > base.at) {
        // A change after the baseline: the scope's counts move with it.
        if (moved) {
          if (old && counts[old.status] > 0) counts[old.status] -= 1;
          counts[t.status] = (counts[t.status] || 0) + 1;
          changed = true;
        }
      } else if (was || is || seen.has(id)) {
        setSeen(id, t);                  // the baseline already includes this change
        changed = true;
      }
      return changed;
    },

    /** The /api/stats answer for this scope; `receivedAt` the page's clock when it arrived. */
    setBaseline(answer, receivedAt) {
      const at = parseTime(answer && answer.at);
      const minutes = new Map();
      for (const m of (answer && answer.timeline) || []) {
        const t = parseTime(m.t);
        if (t !== null) minutes.set(minuteOf(t), { succeeded: m.succeeded || 0, failed: m.failed || 0, cancelled: m.cancelled || 0 });
      }
      const errors = new Map();
      for (const e of (answer && answer.errors) || []) if (typeof e.code === 'string') errors.set(e.code, e.count || 0);
      const d = answer && answer.duration_s;
      base = {
        // Without `at`, the newest change the page has seen stands for the authority's clock.
        at: at ?? receivedAt,
        minutes, errors,
        quantiles: d && typeof d.p50 === 'number' ? {
          p50: d.p50 * 1000, p90: d.p90 * 1000, p99: typeof d.p99 === 'number' ? d.p99 * 1000 : null, max: d.max * 1000,
        } : null,
      };
      counts = answer && answer.counts && typeof answer.counts === 'object' ? { ...answer.counts } : null;
      rebuildSeen();
      base.failedEarlier = 0;
      for (const [m, n] of minutes) base.failedEarlier += Math.max(0, n.failed - (seenTally.minutes.get(m)?.failed || 0));
    },

    /**
     * The figures at `now`: {finished, succeeded, failed, cancelled, success_rate,
     * duration_s: {p50, p90} | null, errors: [{code, count}] (most first), timeline: 60 ×
     * {t, succeeded, failed, cancelled} oldest first, earlier (finishes from the baseline),
     * approximate (percentiles merged with the baseline's distribution)}.
     */
    summary(now) {
      expire(now);
      const edge = now - windowMs;
      const perMinute = new Map();
      const sum = { succeeded: tally.n.succeeded, failed: tally.n.failed, cancelled: tally.n.cancelled };
      for (const [m, n] of tally.minutes) perMinute.set(m, { ...n });
      let earlier = 0, earlierSucceeded = 0, earlierFailed = 0;
      if (base) {
        for (const [m, n] of base.minutes) {
          if (m + MINUTE_MS / 2 < edge) continue;     // a minute leaves when its middle does
          const s = seenTally.minutes.get(m);
          const left = {
            succeeded: Math.max(0, n.succeeded - (s?.succeeded || 0)),
            failed: Math.max(0, n.failed - (s?.failed || 0)),
            cancelled: Math.max(0, n.cancelled - (s?.cancelled || 0)),
          };
          const total = left.succeeded + left.failed + left.cancelled;
          if (!total) continue;
          earlier += total; earlierSucceeded += left.succeeded; earlierFailed += left.failed;
          const into = perMinute.get(m) || { succeeded: 0, failed: 0, cancelled: 0 };
          for (const k of ['succeeded', 'failed', 'cancelled']) { into[k] += left[k]; sum[k] += left[k]; }
          perMinute.set(m, into);
        }
      }
      const finished = sum.succeeded + sum.failed + sum.cancelled;

      // errors: the page's own, plus the baseline's not held, shrunk as its failures leave
      const errors = new Map(tally.errors);
      if (base && earlierFailed > 0 && base.failedEarlier > 0) {
        const keep = earlierFailed / base.failedEarlier;
        for (const [code, n] of base.errors) {
          const left = Math.round(Math.max(0, n - (seenTally.errors.get(code) || 0)) * keep);
          if (left) errors.set(code, (errors.get(code) || 0) + left);
        }
      }

      const durations = tally.durations;
      const q = base && base.quantiles;
      const extra = q ? earlierSucceeded : 0;
      let duration = null;
      if (durations.length + extra > 0) {
        const first = durations.length ? durations[0] : null;
        const lastDur = durations.length ? durations[durations.length - 1] : null;
        // Below its p50 the baseline says nothing: assume it starts where the page's durations do.
        const cdf = extra ? cdfOf(q, first ?? q.p50) : null;
        const lo = extra ? Math.min(first ?? q.p50, q.p50) : first;
        const hi = extra ? Math.max(lastDur ?? q.max, q.max) : lastDur;
        duration = {};
        for (const p of PERCENTILES) duration[`p${p}`] = mergedPercentile(durations, extra, cdf, lo, hi, p) / 1000;
      }

      const timeline = [];
      const last = minuteOf(now);
      for (let m = last - (windowS / 60 - 1) * MINUTE_MS; m <= last; m += MINUTE_MS) {
        const n = perMinute.get(m);
        timeline.push({ t: m, succeeded: n?.succeeded || 0, failed: n?.failed || 0, cancelled: n?.cancelled || 0 });
      }
      return {
        owner, finished, ...sum,
        success_rate: finished ? sum.succeeded / finished : null,
        duration_s: duration,
        errors: [...errors].map(([code, count]) => ({ code, count }))
          .sort((a, b) => b.count - a.count || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0)),
        timeline, earlier, approximate: extra > 0,
        baseline: base !== null,
      };
    },
  };
}
