// The statistics strip (section#stats): success rate, p50/p90 duration, finishes per minute
// over the last hour (an inline SVG bar chart) and the most frequent error codes, for all
// owners or the owner filter's one.
//
// Computed in the page (js/taskstats.js) from the tasks it holds and every pushed event. The
// server is asked (`GET /api/stats?window=3600[&owner=]`) only for what the page cannot know:
// once at start, after a snapshot that replaced the state (a reconnect that could not resume),
// and once when the owner filter changes. Never polled.
//
// Drawing: an event marks the strip dirty; it is drawn at most every STRIP_MIN_INTERVAL_MS, in
// an animation frame, and only elements whose text or attributes changed are written. Events
// that do not finish or un-finish a task do not mark it at all (the 200 progress events/s of a
// busy page cost two status checks each). The window slides by itself: a redraw every SLIDE_MS.

import { createTaskStats, STATS_WINDOW_S, MINUTE_MS } from './taskstats.js';
import { request } from './api.js';
import { formatNumber, formatDuration, formatClock } from './format.js';

export const STRIP_MIN_INTERVAL_MS = 250;
export const STRIP_TOP_ERRORS = 3;
const SLIDE_MS = 5000;
const BARS = STATS_WINDOW_S * 1000 / MINUTE_MS;
const CHART_H = 20;
const SVG = 'http://www.w3.org/2000/svg';

export const stripStats = { fetches: 0, fetchFailures: 0, draws: 0, lastFetchOwner: null };

/** Seconds as a person reads a task's duration: "340 ms", "4.2 s", "42 s", "3 min 05 s". */
export function formatSeconds(s) {
  if (typeof s !== 'number' || !Number.isFinite(s)) return '—';
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 10) return `${(Math.round(s * 10) / 10).toFixed(1)} s`;
  return formatDuration(s);
}

function formatRate(x) {
  if (x === null) return '—';
  const pct = Math.round(x * 1000) / 10;
  return `${pct} %`;
}

export function createStrip({ server, tasks, owner = null, onChange = () => {} }) {
  const el = document.getElementById('stats');
  const q = (s) => el.querySelector(s);
  const f = {
    scope: q('.stats-scope'), note: q('.stats-note'),
    rate: q('[data-stat="success_rate"]'), succeeded: q('[data-stat="succeeded"]'), finished: q('[data-stat="finished"]'),
    failed: q('[data-stat="failed"]'), cancelled: q('[data-stat="cancelled"]'),
    p50: q('[data-stat="p50"]'), p90: q('[data-stat="p90"]'), perMinute: q('[data-stat="per_minute"]'), peak: q('[data-stat="peak"]'),
    errors: q('[data-stat="errors"]'), chart: q('[data-stat="timeline"]'),
  };
  const rateBox = q('.stat-rate');
  const model = createTaskStats();
  model.reset(owner || null, [], Date.now());     // the scope the page opens with; fetched with the first snapshot
  let generation = 0;
  let phase = 'loading';            // loading | ready | error
  let problem = '';
  let last = null;                  // the last summary drawn
  let lastDraw = -Infinity, timer = 0, frame = 0;
  let errorsSig = '';

  // ------------------------------------------------------------ the chart: 60 bars, 3 layers
  const bars = [];
  for (let i = 0; i < BARS; i += 1) {
    const g = document.createElementNS(SVG, 'g');
    const title = document.createElementNS(SVG, 'title');
    g.append(title);
    const rects = {};
    for (const k of ['succeeded', 'failed', 'cancelled']) {
      const r = document.createElementNS(SVG, 'rect');
      r.setAttribute('class', `bar-${k}`);
      r.setAttribute('x', String(i + 0.12));
      r.setAttribute('width', '0.76');
      r.setAttribute('y', String(CHART_H));
      r.setAttribute('height', '0');
      g.append(r);
      rects[k] = r;
    }
    f.chart.append(g);
    bars.push({ g, title, rects, sig: '' });
  }

  const set = (node, text) => { if (node.textContent !== text) node.textContent = text; };
  const setValue = (node, v) => { const s = v === null || v === undefined ? '' : String(v); if (node.dataset.value !== s) node.dataset.value = s; };

  function mark() {
    if (timer || frame) return;
    const wait = Math.max(0, lastDraw + STRIP_MIN_INTERVAL_MS - performance.now());
    timer = setTimeout(() => { timer = 0; frame = requestAnimationFrame(draw); }, wait);
  }

  function draw() {
    frame = 0;
    lastDraw = performance.now();
    stripStats.draws += 1;
    const s = model.summary(Date.now());
    last = s;
    if (el.dataset.state !== phase) el.dataset.state = phase;
    el.dataset.owner = model.owner || '';
    set(f.scope, model.owner ? ` · ${model.owner}` : ' · all owners');
    let note = '';
    if (phase === 'error') note = problem;
    else if (phase === 'loading') note = 'loading the server’s figures…';
    else if (s.approximate) note = `≈ percentiles include ${formatNumber(s.earlier)} earlier finishes known only from the server’s summary`;
    set(f.note, note);

    set(f.rate, formatRate(s.success_rate));
    setValue(f.rate, s.success_rate);
    rateBox.dataset.level = s.success_rate === null ? '' : s.success_rate >= 0.95 ? 'good' : s.success_rate >= 0.8 ? 'fair' : 'poor';
    for (const k of ['succeeded', 'finished', 'failed', 'cancelled']) { set(f[k], formatNumber(s[k])); setValue(f[k], s[k]); }
    for (const p of ['p50', 'p90']) {
      const v = s.duration_s ? s.duration_s[p] : null;
      set(f[p], v === null ? '—' : `${s.approximate ? '≈ ' : ''}${formatSeconds(v)}`);
      setValue(f[p], v === null ? null : Math.round(v * 1000) / 1000);
    }
    const perMinute = s.finished / BARS;
    set(f.perMinute, perMinute > 0 && perMinute < 0.1 ? '<0.1' : formatNumber(Math.round(perMinute * 10) / 10));
    setValue(f.perMinute, perMinute);
    drawErrors(s);
    const peak = drawChart(s);
    set(f.peak, formatNumber(peak));
    setValue(f.peak, peak);
    onChange(s);
  }

  function drawErrors(s) {
    const top = s.errors.slice(0, STRIP_TOP_ERRORS);
    const rest = s.errors.slice(STRIP_TOP_ERRORS);
    const sig = JSON.stringify([top, rest.length]);
    if (sig === errorsSig) return;
    errorsSig = sig;
    const items = top.map((e) => {
      const li = document.createElement('li');
      li.dataset.code = e.code;
      li.dataset.count = String(e.count);
      const code = document.createElement('code');
      code.textContent = e.code;
      code.title = e.code;
      const n = document.createElement('span');
      n.className = 'error-count';
      n.textContent = formatNumber(e.count);
      li.append(code, n);
      return li;
    });
    if (rest.length) {
      const li = document.createElement('li');
      li.className = 'more';
      li.textContent = `+${rest.length} more`;
      li.title = rest.map((e) => `${e.code}: ${e.count}`).join('\n');
      items.push(li);
    }
    if (!items.length) {
      const li = document.createElement('li');
      li.className = 'none';
      li.textContent = 'none';
      items.push(li);
    }
    f.errors.replaceChildren(...items);
  }

  /** The bars, scaled to the busiest minute; returns its count. */
  function drawChart(s) {
    let most = 0;
    for (const m of s.timeline) most = Math.max(most, m.succeeded + m.failed + m.cancelled);
    const peak = Math.max(1, most);
    s.timeline.forEach((m, i) => {
      const bar = bars[i];
      if (!bar) return;
      const sig = `${peak}|${m.t}|${m.succeeded}|${m.failed}|${m.cancelled}`;
      if (bar.sig === sig) return;
      bar.sig = sig;
      let y = CHART_H;
      for (const k of ['succeeded', 'failed', 'cancelled']) {
        const h = (m[k] / peak) * CHART_H;
        y -= h;
        bar.rects[k].setAttribute('y', y.toFixed(3));
        bar.rects[k].setAttribute('height', h.toFixed(3));
      }
      const total = m.succeeded + m.failed + m.cancelled;
      bar.g.dataset.minute = new Date(m.t).toISOString();
      bar.g.dataset.total = String(total);
      bar.title.textContent = `${formatClock(new Date(m.t).toISOString()).slice(0, 5)}: ${total
        ? ['succeeded', 'failed', 'cancelled'].filter((k) => m[k]).map((k) => `${m[k]} ${k}`).join(', ') : 'none finished'}`;
    });
    f.chart.setAttribute('aria-label', `Finished per minute over the last hour: ${s.finished} in all, at most ${most} in one minute`);
    return most;
  }

  /** GET /api/stats for the current scope; answers to an older scope are dropped. */
  async function fetchBaseline() {
    const gen = ++generation;
    const owner = model.owner;
    stripStats.fetches += 1;
    stripStats.lastFetchOwner = owner;
    const params = new URLSearchParams({ window: String(STATS_WINDOW_S) });
    if (owner) params.set('owner', owner);
    try {
      const answer = await request(server, 'GET', `/api/stats?${params}`);
      if (gen !== generation) return;
      model.setBaseline(answer, Date.now());
      phase = 'ready';
      problem = '';
    } catch (e) {
      if (gen !== generation) return;
      stripStats.fetchFailures += 1;
      phase = 'error';
      problem = `the server’s figures could not be read (${e.status ? `${e.status} ` : ''}${e.message}): tasks on this page only`;
    }
    mark();
  }

  setInterval(mark, SLIDE_MS);

  return {
    /** A snapshot replaced the page's tasks: rebuild, and ask the server for the rest. */
    onSnapshot() {
      model.reset(model.owner, tasks(), Date.now());
      mark();
      fetchBaseline();
    },
    /** Every applied task event (`old`: the task before, or undefined). */
    onTask(id, old, t) {
      if (model.onTask(id, old, t, Date.now())) mark();
    },
    /** The owner filter changed (null: all owners). */
    setOwner(owner) {
      const o = owner || null;
      if (o === model.owner) return;
      model.reset(o, tasks(), Date.now());
      phase = 'loading';
      mark();
      fetchBaseline();
    },
    get owner() { return model.owner; },
    /** The scope's task counts by status (the server's, kept live), or null before it answered. */
    get counts() { return model.counts; },
    /** The figures now (the page's window.herald.taskStats() for tests and the console). */
    summary() { return { ...model.summary(Date.now()), state: phase }; },
    get last() { return last; },
  };
}
