// Formatting helpers: numbers, durations, relative times. Pure functions, no DOM.

const timeCache = new Map();   // RFC 3339 text → epoch ms (the same stamps are parsed every second)

/** Milliseconds since 1970 for an RFC 3339 stamp, or null. */
export function parseTime(s) {
  if (typeof s !== 'string' || !s) return null;
  let ms = timeCache.get(s);
  if (ms === undefined) {
    ms = Date.parse(s);
    if (Number.isNaN(ms)) ms = null;
    if (timeCache.size > 20000) timeCache.clear();     // bounded: stamps keep changing
    timeCache.set(s, ms);
  }
  return ms;
}

const nf0 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const nf1 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

export function formatNumber(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '';
  return (Math.abs(n) < 10 ? nf1 : nf0).format(n);
}

/** 42 s, 3 min 05 s, 2 h 10 min, 3 d 4 h */
export function formatDuration(s) {
  if (typeof s !== 'number' || !Number.isFinite(s)) return '';
  s = Math.max(0, Math.round(s));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** "42 s ago" from a stamp, relative to now (ms). */
export function formatAgo(stamp, now) {
  const ms = parseTime(stamp);
  if (ms === null) return '';
  return `${formatDuration(Math.max(0, (now - ms) / 1000))} ago`;
}

export function formatRate(r) {
  if (typeof r !== 'number' || !Number.isFinite(r)) return '';
  if (r > 0 && r < 0.1) return `${(r * 60).toFixed(1)}/min`;
  return `${formatNumber(r)}/s`;
}

const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
const dateClock = new Intl.DateTimeFormat(undefined, {
  month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
});

/** Local wall-clock time for the timeline (date too when it is not today). */
export function formatClock(stamp) {
  const ms = parseTime(stamp);
  if (ms === null) return '';
  const d = new Date(ms);
  const today = new Date();
  return d.toDateString() === today.toDateString() ? clock.format(d) : dateClock.format(d);
}
