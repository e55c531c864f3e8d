// The time slider: months for month-only sources (police.uk), days and hours of the day
// for sources with exact times. Month-only data is never spread into days.

export const MONTH_WINDOWS = [[1, '1 month'], [3, '3 months'], [12, '12 months'], [0, 'All months']];
export const DAY_WINDOWS = [[1, '1 day'], [7, '7 days'], [28, '28 days'], [0, 'All days']];

const pad = (h) => String(h).padStart(2, '0');
export const HOUR_CHOICES = [
  ['', 'All hours'],
  ['0-5', '00:00–05:59'], ['6-11', '06:00–11:59'], ['12-17', '12:00–17:59'], ['18-23', '18:00–23:59'],
  ['22-5', 'Night (22:00–05:59)'],
  ...Array.from({ length: 24 }, (_, h) => [String(h), `${pad(h)}:00–${pad(h)}:59`]),
];

/** Day span of the selected force (every force when none), or null when any is month-only. */
export function dayBins(meta, force) {
  const bins = meta.time_bins || [];
  const sel = force ? bins.filter((b) => b.force === force) : bins;
  if (!sel.length || !sel.every((b) => b.days)) return null;
  const first = sel.map((b) => b.first_day).sort()[0];
  const last = sel.map((b) => b.last_day).sort().at(-1);
  return { first, last, hours: sel.every((b) => b.hours) };
}

const utc = (d) => Date.UTC(Number(d.slice(0, 4)), Number(d.slice(5, 7)) - 1, Number(d.slice(8, 10)));

/** Every day from first to last (YYYY-MM-DD), inclusive. */
export function daysBetween(first, last) {
  const out = [];
  for (let t = utc(first); t <= utc(last); t += 86400000) out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

/** The window the slider selects: {start, end[, hours]} in days or months.
 *  `monthly`: the months covering the selected days (layers and panels that are monthly). */
export function timeRange(state, monthly = false) {
  if (state.timeMode === 'day') {
    const d = state.days;
    if (!d.length) return {};
    const end = d[state.dayIdx];
    const start = state.dayWindow === 0 ? d[0] : d[Math.max(0, state.dayIdx - state.dayWindow + 1)];
    if (monthly) return { start: start.slice(0, 7), end: end.slice(0, 7) };
    return state.hours ? { start, end, hours: state.hours } : { start, end };
  }
  const months = state.meta.months;
  if (!months.length) return {};
  const end = months[state.monthIdx];
  if (state.window === 0) return { start: months[0], end };
  return { start: months[Math.max(0, state.monthIdx - state.window + 1)], end };
}

/** Fill a <select> with [value, text] options and select `value`. */
export function fillSelect(el, options, value) {
  el.innerHTML = '';
  for (const [v, t] of options) el.add(new Option(t, String(v)));
  el.value = String(value);
}
