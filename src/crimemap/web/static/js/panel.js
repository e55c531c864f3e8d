// The side panel: a cell's counts over time, hot spot class, forecast and its drivers.

const fmt = (v, d = 1) => (v === null || v === undefined ? '–'
  : Number(v).toLocaleString('en-GB', { maximumFractionDigits: d }));

function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

/** Inline SVG bar chart of a monthly series. */
export function chart(points, unit) {
  const w = 300; const h = 110; const pad = 22;
  const max = Math.max(1, ...points.map((p) => p.value));
  const bw = (w - pad) / Math.max(points.length, 1);
  const bars = points.map((p, k) => {
    const bh = ((h - pad) * p.value) / max;
    return `<rect x="${pad + k * bw}" y="${h - pad - bh}" width="${Math.max(bw - 1, 1)}" height="${bh}" fill="#31688e"><title>${esc(p.month)}: ${fmt(p.value)} ${esc(unit)}</title></rect>`;
  }).join('');
  const first = points[0]?.month ?? ''; const last = points[points.length - 1]?.month ?? '';
  return `<svg class="chart" width="${w}" height="${h}" role="img" aria-label="Monthly ${esc(unit)} from ${esc(first)} to ${esc(last)}, maximum ${fmt(max)}">
    <line x1="${pad}" y1="${h - pad}" x2="${w}" y2="${h - pad}" stroke="#999"/>
    <text x="0" y="10">${fmt(max)}</text><text x="0" y="${h - pad}">0</text>
    ${bars}
    <text x="${pad}" y="${h - 6}">${esc(first)}</text><text x="${w - 42}" y="${h - 6}">${esc(last)}</text></svg>`;
}

const HOT_LABEL = { 1: 'hot spot', '-1': 'cold spot', 0: 'not significant' };

/** HTML of the explanation returned by /api/cells/{id}. */
export function render(e) {
  const unit = e.measure === 'harm' ? 'harm (custody-days)' : 'incidents';
  const rows = [];
  rows.push(`<p data-testid="total">Total ${esc(unit)} ${e.window ? `${esc(e.window[0])} – ${esc(e.window[1])}` : ''}: <strong id="panel-total">${fmt(e.total, 2)}</strong>${e.rank ? ` (rank ${e.rank.position} of ${e.rank.of} cells)` : ''}</p>`);
  rows.push(chart(e.series, unit));
  const hs = e.hotspot || {};
  rows.push('<h3>Hot spot</h3>');
  if (hs.unavailable) rows.push(`<p class="note">${esc(hs.unavailable)}</p>`);
  else if (hs.class !== undefined) rows.push(`<p id="panel-hotspot">Gi* ${esc(HOT_LABEL[hs.class])} (z = ${fmt(hs.value, 2)}, FDR q ${hs.q < 0.001 ? '< 0.001' : '= ' + fmt(hs.q, 3)})</p>`);
  else rows.push('<p class="note">outside the study area</p>');
  const em = e.emerging || {};
  if (em.label) rows.push(`<p>Emerging (${fmt(em.cell_m || e.cell_m, 0)} m cell, all months to ${esc(e.window ? e.window[1] : '')}): <span id="panel-emerging">${esc(em.label)}</span></p>`);
  else if (em.unavailable) rows.push(`<p class="note">Emerging: ${esc(em.unavailable)}</p>`);
  const f = e.forecast || {};
  rows.push('<h3>Forecast</h3>');
  if (f.unavailable) {
    rows.push(`<p class="note">${esc(f.unavailable)}</p>`);
  } else {
    const band = f.lo90 !== null && f.lo90 !== undefined ? ` (90 % band ${fmt(f.lo90)} – ${fmt(f.hi90)})` : '';
    rows.push(`<p id="panel-forecast">${fmt(f.mean, 2)} expected ${esc(f.crime_set)} incidents in ${esc(f.window[0])}${band}, model <code>${esc(f.model)}</code> on ${fmt(f.model_cell_m, 0)} m cells.</p>`);
    if (f.interval_note) rows.push(`<p class="note">${esc(f.interval_note)}</p>`);
    if (f.drivers && f.drivers.length) {
      rows.push('<table class="kv" aria-label="What drives the forecast"><tbody>');
      for (const d of f.drivers) rows.push(`<tr><td>${esc(d.driver)}</td><td>${d.value >= 0 ? '+' : ''}${fmt(d.value, 2)}</td></tr>`);
      rows.push('</tbody></table>');
    }
  }
  rows.push('<h3>Back-test accuracy</h3>');
  if (e.backtest) {
    rows.push(`<table class="kv"><tbody>${Object.entries(e.backtest.metrics).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${fmt(v, 3)}</td></tr>`).join('')}</tbody></table><p class="note">mean over ${e.backtest.origins} origins (${esc(e.backtest.source)})</p>`);
  } else {
    rows.push('<p class="note">no back-test result for this model and crime set</p>');
  }
  const c = e.coverage || {};
  rows.push('<h3>Data coverage</h3>');
  rows.push(`<table class="kv"><tbody>
    <tr><td>force</td><td>${esc(c.force ?? 'all')}</td></tr>
    <tr><td>months published</td><td>${fmt(c.months_published, 0)} (${esc(c.first_month)} – ${esc(c.last_month)})</td></tr>
    <tr><td>incidents with a location</td><td>${c.force_located_share === null ? '–' : fmt(100 * c.force_located_share, 1) + ' %'}</td></tr>
    <tr><td>months with incidents here</td><td>${fmt(c.cell_months_with_incidents, 0)}</td></tr>
    <tr><td>time precision</td><td>${esc(c.time_precision)}</td></tr>
    </tbody></table>`);
  if (c.note) rows.push(`<p class="note">${esc(c.note)}</p>`);
  return rows.join('\n');
}
