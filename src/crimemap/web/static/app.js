// crimemap browser map: MapLibre GL JS (global `maplibregl`, vendored from npm) + plain ES modules.
import { getJSON, query, send } from './js/api.js';
import { EMERGING_GROUPS, HOT, COLD, VIRIDIS, emergingColour, hotspotColour, rampValue, sequential } from './js/colours.js';
import { render as renderPanel } from './js/panel.js';
import { DAY_WINDOWS, HOUR_CHOICES, MONTH_WINDOWS, dayBins, daysBetween, fillSelect, timeRange } from './js/time.js';

const $ = (id) => document.getElementById(id);
const state = {
  meta: null, layer: 'incidents', measure: 'volume', categories: 'all-crime', force: '',
  monthIdx: 0, window: 3, data: null, selected: null, loads: 0, events: [], errors: [], who: null,
  plan: null, routing: false, route: [], routeRisk: null,
  // Spatial unit of the incidents layer, and the time slider's mode (month or day).
  unit: 'grid', timeMode: 'month', days: [], dayIdx: 0, dayWindow: 7, hours: '', forecastEvents: [],
};
// Exposed for tests and for debugging from the console.
window.crimemap = state;

const OFFLINE_STYLE = {
  version: 8,
  sources: {},
  layers: [{ id: 'background', type: 'background', paint: { 'background-color': '#f4f4ef' } }],
};

// Hot spots, emerging hot spots, the forecast and grid-cell panels are monthly: in day
// mode they get the months covering the selected days.
function filters(monthly = false) {
  return { categories: state.categories, measure: state.measure, force: state.force, ...timeRange(state, monthly) };
}

const unitParam = () => (state.layer === 'incidents' && state.unit !== 'grid' ? state.unit : undefined);

function setStatus(text) { $('status').textContent = text; }

let map;
let inflight = null;
let reloadTimer = null;

function bboxParam() {
  const b = map.getBounds();
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  return [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -85, 85), clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -85, 85)]
    .map((v) => v.toFixed(5)).join(',');
}

async function loadLayer() {
  if (!state.meta) return;
  if (inflight) inflight.abort();
  const ctl = new AbortController();
  inflight = ctl;
  const f = filters(state.layer !== 'incidents');
  // Emerging hot spots need a long series: every month up to the selected one.
  if (state.layer === 'emerging') delete f.start;
  const url = `/api/layers/${state.layer}?${query({ bbox: bboxParam(), zoom: map.getZoom().toFixed(2), unit: unitParam(), ...f })}`;
  try {
    const data = await getJSON(url, ctl.signal);
    if (ctl.signal.aborted) return;
    state.data = data;
    state.loads += 1;
    map.getSource('cells').setData(data);
    styleCells(data.meta);
    legend(data.meta);
    setStatus(data.meta.unit_kind && data.meta.unit_kind !== 'grid'
      ? `${data.meta.cells} ${data.meta.unit_kind === 'h3' ? 'hexagons' : 'LSOAs'} in view`
      : `${data.meta.cells} cells of ${data.meta.cell_size_m / 1000} km`);
  } catch (err) {
    if (err.name === 'AbortError') return;
    state.data = { type: 'FeatureCollection', features: [], meta: { layer: state.layer, cells: 0 } };
    map.getSource('cells').setData(state.data);
    legend(null);
    setStatus(`${state.layer}: ${err.message}`);
  }
}

function scheduleLoad(delay = 120) {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(loadLayer, delay);
}

function styleCells(meta) {
  let colour;
  let opacity = 0.75;
  if (meta.layer === 'hotspots') colour = hotspotColour();
  else if (meta.layer === 'emerging') colour = emergingColour();
  else colour = sequential(meta.max);
  if (meta.layer === 'hotspots') opacity = ['match', ['get', 'class'], 0, 0.25, 0.8];
  map.setPaintProperty('cells-fill', 'fill-color', colour);
  map.setPaintProperty('cells-fill', 'fill-opacity', opacity);
}

function legend(meta) {
  const el = $('legend');
  if (!meta) { el.innerHTML = ''; return; }
  const kind = meta.unit_kind || 'grid';
  const km = kind === 'h3' ? `H3 hexagons, resolution ${meta.resolution} (edge ≈ ${{ 8: 530, 9: 200, 10: 76 }[meta.resolution]} m)`
    : kind === 'lsoa' ? 'LSOAs (by each record’s LSOA code, unlocated records included)'
      : `${meta.cell_size_m >= 1000 ? meta.cell_size_m / 1000 + ' km' : meta.cell_size_m + ' m'} cells`;
  const per = { grid: 'cell', h3: 'hexagon', lsoa: 'LSOA' }[kind];
  const r = timeRange(state, meta.layer !== 'incidents');
  const span = (r.start ? (r.start === r.end ? r.end : `${r.start} – ${r.end}`) : '') + (r.hours ? `, hours ${r.hours}` : '');
  if (meta.layer === 'incidents' || meta.layer === 'forecast') {
    const unit = meta.layer === 'forecast'
      ? `Expected incidents per cell, ${meta.window ? meta.window[0] : ''} (${meta.model})`
      : `${meta.unit === 'incidents' ? 'Incidents' : 'Harm (ONS CSS custody-days)'} per ${per}, ${span}`;
    const max = meta.max || 0;
    el.innerHTML = `<h4>${unit}</h4><div class="ramp" style="background:linear-gradient(to right,${VIRIDIS.join(',')})"></div>
      <div class="ticks"><span>0</span><span>${rampValue(max, 0.5).toLocaleString('en-GB', { maximumFractionDigits: 1 })}</span><span>${max.toLocaleString('en-GB', { maximumFractionDigits: 1 })}</span></div>
      <p class="note">${km}; square-root colour scale</p>` +
      (meta.time_note ? `<p class="note" id="time-unit-note">${meta.time_note.charAt(0).toUpperCase()}${meta.time_note.slice(1)}.</p>` : '') +
      (meta.undrawn && meta.undrawn.value ? `<p class="note">${meta.undrawn.value.toLocaleString('en-GB')} in ${meta.undrawn.units} LSOAs without a boundary (not drawn).</p>` : '') +
      (meta.disclosure ? `<p class="note" id="disclosure-note">${meta.disclosure.note.charAt(0).toUpperCase()}${meta.disclosure.note.slice(1)}.</p>` : '');
  } else if (meta.layer === 'hotspots') {
    el.innerHTML = `<h4>Getis-Ord Gi* hot spots, ${span}</h4>
      <div><span class="swatch" style="background:${HOT}"></span>hot spot (FDR q ≤ ${meta.alpha})</div>
      <div><span class="swatch" style="background:${COLD}"></span>cold spot</div>
      <div><span class="swatch" style="background:#bbbbbb"></span>not significant</div>
      <p class="note">${meta.n_hot} hot, ${meta.n_cold} cold; ${km}; ${meta.permutations} permutations</p>`;
  } else {
    el.innerHTML = `<h4>Emerging hot spots, ${meta.months ? meta.months.join(' – ') : ''}</h4>` +
      EMERGING_GROUPS.map(([c, t]) => `<div><span class="swatch" style="background:${c}"></span>${t}</div>`).join('') +
      `<p class="note">${km}</p>`;
  }
}

async function openPanel(cellId) {
  if (isPublic()) { setStatus('sign in as an analyst to explain a cell'); return; }
  state.selected = cellId;
  const panel = $('panel');
  $('panel-title').textContent = cellId.startsWith('h3:') ? `Hexagon ${cellId.slice(3)}`
    : cellId.startsWith('lsoa:') ? `LSOA ${cellId.slice(5)}` : `Cell ${cellId}`;
  $('panel-body').innerHTML = '<p class="note">loading…</p>';
  panel.hidden = false;
  map.resize();
  try {
    const e = await getJSON(`/api/cells/${encodeURIComponent(cellId)}?${query(filters(cellId.startsWith('g')))}`);
    if (state.selected !== cellId) return;
    $('panel-body').innerHTML = renderPanel(e);
    state.explanation = e;
  } catch (err) {
    $('panel-body').innerHTML = `<p class="note">${err.message}</p>`;
  }
  map.setFilter('cells-selected', ['==', ['get', 'id'], cellId]);
}

function closePanel() {
  state.selected = null;
  $('panel').hidden = true;
  map.setFilter('cells-selected', ['==', ['get', 'id'], '']);
  map.resize();
  $('map').focus();
}

function cellAtCentre() {
  const p = map.project(map.getCenter());
  const hits = map.queryRenderedFeatures(p, { layers: ['cells-fill'] });
  return hits.length ? hits[0].properties.id : null;
}

const isPublic = () => !state.who || state.who.role === 'public';
const ownForces = () => (state.who && state.who.role === 'analyst' && !state.who.forces.includes('*') ? state.who.forces : null);

async function signIn(ev) {
  ev.preventDefault();
  const token = $('token').value.trim();
  if (!token) return;
  try {
    await send('POST', '/api/session', { Authorization: `Bearer ${token}` });
    $('token').value = '';
    window.location.reload();
  } catch (err) {
    $('whoami').textContent = `sign-in failed: ${err.message}`;
  }
}

async function signOut() {
  await send('DELETE', '/api/session').catch(() => null);
  window.location.reload();
}

async function whoAmI() {
  try {
    return await getJSON('/api/session');
  } catch (err) {
    // An expired or ended session: drop the cookie and carry on as the public.
    await send('DELETE', '/api/session').catch(() => null);
    return getJSON('/api/session');
  }
}

function showWho() {
  const w = state.who;
  $('signin').addEventListener('submit', signIn);
  $('signout').addEventListener('click', signOut);
  if (isPublic()) {
    $('whoami').textContent = 'Public view';
    // The public sees disclosure-controlled counts only (see docs/api.md).
    // Public counts are published on grid cells by month only (see docs/api.md).
    document.querySelectorAll('input[name=layer], input[name=measure], input[name=unit]').forEach((r) => {
      if (r.value !== 'incidents' && r.value !== 'volume' && r.value !== 'grid') {
        r.disabled = true;
        r.parentElement.classList.add('disabled');
        r.parentElement.title = 'Sign in as an analyst to see this';
      }
    });
    $('explain-centre').disabled = true;
    $('live').className = 'live off';
    $('live-text').textContent = 'public view: no live updates';
  } else {
    $('signin').hidden = true;
    $('signout').hidden = false;
    $('whoami').textContent = `${w.user} (${w.role}${w.role === 'analyst' ? ': ' + w.forces.join(', ') : ''})`;
  }
}

const EMPTY = { type: 'FeatureCollection', features: [] };

function planForce() {
  return state.force || (ownForces() || state.meta.forces)[0];
}

async function togglePlan() {
  const on = $('plan-toggle').checked;
  if (!on) { state.plan = null; map.getSource('plan').setData(EMPTY); $('patrol-status').textContent = ''; return; }
  const force = planForce();
  $('patrol-status').textContent = `planning for ${force}…`;
  try {
    const plan = await send('POST', '/api/plans', {}, { force, areas: 10, max_cells: 16, time_limit_s: 10 });
    if (!$('plan-toggle').checked) return;
    state.plan = plan;
    map.getSource('plan').setData(plan);
    const cover = plan.features.reduce((s, f) => s + f.properties.expected, 0);
    $('patrol-status').innerHTML = `${plan.features.length} areas, ${cover.toFixed(1)} expected incidents covered. ` +
      plan.features.slice(0, 3).map((f) => `<a href="/api/plans/${plan.plan_id}/areas/${f.properties.rank}/briefing.png?${query({ force })}" target="_blank">briefing ${f.properties.rank}</a>`).join(' ');
  } catch (err) {
    $('patrol-status').textContent = `plan: ${err.message}`;
  }
}

function drawDraft() {
  const coords = state.route;
  map.getSource('route-draft').setData(coords.length >= 2
    ? { type: 'Feature', geometry: { type: 'LineString', coordinates: coords }, properties: {} } : EMPTY);
  $('route-risk').disabled = coords.length < 2;
}

async function routeRisk() {
  state.routing = false;
  $('route-start').textContent = 'Draw a route';
  try {
    const res = await send('POST', '/api/route-risk', {}, { force: planForce(), route: state.route, buffer_m: 200 });
    state.routeRisk = res;
    map.getSource('route-risk').setData(res);
    const segs = res.features.filter((f) => f.properties.kind === 'segment');
    const max = Math.max(0, ...segs.map((f) => f.properties.risk));
    map.setPaintProperty('route-risk-line', 'line-color', ['interpolate', ['linear'], ['get', 'risk'], 0, '#fde725', Math.max(max, 1e-9), '#b2182b']);
    const total = segs.reduce((s, f) => s + f.properties.risk, 0);
    $('patrol-status').textContent = `route: ${segs.length} segments, ${total.toFixed(2)} expected incidents along it`;
  } catch (err) {
    $('patrol-status').textContent = `route: ${err.message}`;
  }
}

function setUpPatrol() {
  if (isPublic()) return;
  $('patrol').hidden = false;
  map.addSource('plan', { type: 'geojson', data: EMPTY });
  map.addLayer({ id: 'plan-fill', type: 'fill', source: 'plan', paint: { 'fill-color': '#d55e00', 'fill-opacity': 0.25 } });
  map.addLayer({ id: 'plan-line', type: 'line', source: 'plan', paint: { 'line-color': '#d55e00', 'line-width': 2.5 } });
  map.addSource('route-draft', { type: 'geojson', data: EMPTY });
  map.addLayer({ id: 'route-draft-line', type: 'line', source: 'route-draft', paint: { 'line-color': '#333', 'line-width': 2, 'line-dasharray': [2, 1] } });
  map.addSource('route-risk', { type: 'geojson', data: EMPTY });
  map.addLayer({ id: 'route-risk-line', type: 'line', source: 'route-risk', filter: ['==', ['get', 'kind'], 'segment'], paint: { 'line-color': '#b2182b', 'line-width': 5 } });
  $('plan-toggle').addEventListener('change', togglePlan);
  $('route-start').addEventListener('click', () => {
    state.routing = !state.routing;
    if (state.routing) { state.route = []; drawDraft(); }
    $('route-start').textContent = state.routing ? 'Stop drawing' : 'Draw a route';
    $('patrol-status').textContent = state.routing ? 'click points on the map, then Risk' : '';
  });
  $('route-risk').addEventListener('click', routeRisk);
  $('route-clear').addEventListener('click', () => {
    state.routing = false; state.route = []; state.routeRisk = null; drawDraft();
    map.getSource('route-risk').setData(EMPTY);
    $('route-start').textContent = 'Draw a route';
  });
  map.on('click', (e) => {
    if (!state.routing) return;
    state.route.push([Number(e.lngLat.lng.toFixed(6)), Number(e.lngLat.lat.toFixed(6))]);
    drawDraft();
  });
}

function live() {
  const el = $('live'); const text = $('live-text');
  const forces = ownForces();
  const es = new EventSource(forces ? `/api/stream?${query({ force: state.force || forces[0] })}` : '/api/stream');
  es.addEventListener('hello', () => { el.className = 'live on'; text.textContent = 'live'; });
  es.addEventListener('change', (ev) => {
    const change = JSON.parse(ev.data);
    if (!change.layers.includes('incidents')) {
      // The forecast was refitted in the background after uploads.
      state.forecastEvents.push(change);
      text.textContent = `live · forecast updated (${change.forces.join(', ')})`;
      if (change.layers.includes(state.layer)) loadLayer();
      if (state.selected) openPanel(state.selected);
      return;
    }
    state.events.push(change);
    el.className = 'live on flash';
    text.textContent = `live · ${change.rows_inserted} new incident${change.rows_inserted === 1 ? '' : 's'}`;
    setTimeout(() => { el.className = 'live on'; }, 1500);
    if (change.months && change.months.length) {
      const last = state.meta.months[state.meta.months.length - 1];
      const newer = change.months.filter((m) => m > last);
      for (const m of change.months) if (!state.meta.months.includes(m)) state.meta.months.push(m);
      state.meta.months.sort();
      const slider = $('month');
      const atEnd = state.monthIdx === Number(slider.max);
      slider.max = String(state.meta.months.length - 1);
      if (atEnd && newer.length) state.monthIdx = state.meta.months.length - 1;
      if (state.timeMode === 'month') {
        slider.value = String(state.monthIdx);
        $('month-out').textContent = state.meta.months[state.monthIdx];
      }
    }
    loadLayer();
    if (state.selected) openPanel(state.selected);
  });
  es.onerror = () => { el.className = 'live off'; text.textContent = 'reconnecting…'; };
}

function fillControls(meta) {
  const cat = $('category');
  const sets = [['all-crime', 'All crime (excl. ASB)'], ['all-crime-victim', 'Crime with a victim'],
    ['violence', 'Violence and sexual offences'], ['burglary', 'Burglary'], ['asb', 'Anti-social behaviour'],
    ['police-initiated', 'Police-initiated (drugs, weapons)']];
  for (const [v, t] of sets) cat.add(new Option(t, v));
  for (const c of meta.categories) {
    if (!sets.some(([v]) => v === c.slug)) cat.add(new Option(c.label, c.slug));
  }
  cat.value = state.categories;
  const force = $('force');
  const own = ownForces();
  if (own) {
    // Analysts see only their own forces: no "all forces" option.
    force.innerHTML = '';
    state.force = own.includes(state.force) ? state.force : own[0];
  }
  for (const f of meta.forces) if (!own || own.includes(f)) force.add(new Option(f, f));
  force.value = state.force;
  const slider = $('month');
  state.monthIdx = Math.max(meta.months.length - 1, 0);
  fillSelect($('hours'), HOUR_CHOICES, '');
  if (!meta.lsoa_outlines) {
    const l = $('unit-lsoa');
    l.querySelector('input').disabled = true;
    l.classList.add('disabled');
    l.title = 'No LSOA boundaries configured (CRIMEMAP_LSOA_GEOJSON_DIR)';
  }
  setTimeMode();

  document.querySelectorAll('input[name=layer]').forEach((r) => r.addEventListener('change', () => { state.layer = r.value; unitsFollowLayer(); loadLayer(); }));
  document.querySelectorAll('input[name=unit]').forEach((r) => r.addEventListener('change', () => { state.unit = r.value; loadLayer(); }));
  $('hours').addEventListener('change', () => { state.hours = $('hours').value; loadLayer(); });
  document.querySelectorAll('input[name=measure]').forEach((r) => r.addEventListener('change', () => { state.measure = r.value; loadLayer(); if (state.selected) openPanel(state.selected); }));
  cat.addEventListener('change', () => { state.categories = cat.value; loadLayer(); if (state.selected) openPanel(state.selected); });
  force.addEventListener('change', () => { state.force = force.value; setTimeMode(); loadLayer(); });
  slider.addEventListener('input', () => {
    if (state.timeMode === 'day') state.dayIdx = Number(slider.value); else state.monthIdx = Number(slider.value);
    $('month-out').textContent = state.timeMode === 'day' ? state.days[state.dayIdx] : meta.months[state.monthIdx];
    scheduleLoad(200);
  });
  $('window').addEventListener('change', () => {
    if (state.timeMode === 'day') state.dayWindow = Number($('window').value); else state.window = Number($('window').value);
    loadLayer();
  });
  $('explain-centre').addEventListener('click', () => { const id = cellAtCentre(); if (id) openPanel(id); else setStatus('no cell at the map centre'); });
  $('panel-close').addEventListener('click', closePanel);
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && !$('panel').hidden) closePanel(); });
}

// Days (and hours of the day) when every selected force has exact times; months otherwise.
function setTimeMode() {
  const meta = state.meta;
  const slider = $('month');
  const bins = isPublic() ? null : dayBins(meta, state.force);
  if (bins) {
    state.timeMode = 'day';
    state.days = daysBetween(bins.first, bins.last);
    state.dayIdx = state.days.length - 1;
    slider.max = String(state.days.length - 1);
    slider.value = String(state.dayIdx);
    $('time-label').textContent = 'Day';
    $('month-out').textContent = state.days[state.dayIdx];
    fillSelect($('window'), DAY_WINDOWS, state.dayWindow);
    $('hours-block').hidden = !bins.hours;
    if (!bins.hours) { state.hours = ''; $('hours').value = ''; }
    $('time-note').textContent = `Exact times: the slider steps by day${bins.hours ? ', with an hour-of-day filter' : ''}. Hot spots, emerging hot spots and the forecast use the months of the window.`;
  } else {
    state.timeMode = 'month';
    state.hours = '';
    slider.max = String(Math.max(meta.months.length - 1, 0));
    slider.value = String(state.monthIdx);
    $('time-label').textContent = 'Month';
    $('month-out').textContent = meta.months[state.monthIdx] || '';
    fillSelect($('window'), MONTH_WINDOWS, state.window);
    $('hours-block').hidden = true;
    $('time-note').textContent = meta.time_precision.every((p) => p === 'month')
      ? 'Times are published by month only (data.police.uk), so the slider steps by month.'
      : 'Some of the selected data is published by month only, so the slider steps by month (pick a force with exact times for days).';
  }
}

// H3 hexagons and LSOAs are served for the incidents layer; the statistics use grid cells.
function unitsFollowLayer() {
  const on = state.layer === 'incidents';
  document.querySelectorAll('input[name=unit]').forEach((r) => {
    if (r.value === 'grid') return;
    const blocked = isPublic() || (r.value === 'lsoa' && !state.meta.lsoa_outlines);
    r.disabled = blocked || !on;
  });
  $('units').title = on ? '' : 'Hot spots, emerging hot spots and the forecast are computed on grid cells';
}

async function addOutlines() {
  try {
    const forces = await getJSON('/api/outlines/forces');
    map.addSource('forces', { type: 'geojson', data: forces });
    map.addLayer({ id: 'forces-fill', type: 'fill', source: 'forces', paint: { 'fill-color': '#ffffff', 'fill-opacity': state.meta.basemap_style_url ? 0 : 0.9 } }, 'cells-fill');
    map.addLayer({ id: 'forces-line', type: 'line', source: 'forces', paint: { 'line-color': '#555', 'line-width': 1.5 } });
    const b = new maplibregl.LngLatBounds();
    for (const f of forces.features) {
      const polys = f.geometry.type === 'Polygon' ? [f.geometry.coordinates] : f.geometry.coordinates;
      for (const p of polys) for (const [x, y] of p[0]) b.extend([x, y]);
    }
    if (!b.isEmpty()) map.fitBounds(b, { padding: 20, animate: false });
  } catch (err) {
    setStatus(`outlines: ${err.message}`);
  }
  if (state.meta.lsoa_outlines) {
    map.addSource('lsoa', { type: 'geojson', data: '/api/outlines/lsoa' });
    map.addLayer({ id: 'lsoa-line', type: 'line', source: 'lsoa', minzoom: 10, paint: { 'line-color': '#999', 'line-width': 0.5 } }, 'forces-line');
  }
}

async function main() {
  window.addEventListener('error', (e) => state.errors.push(String(e.message)));
  state.who = await whoAmI();
  state.meta = await getJSON('/api/meta');
  showWho();
  fillControls(state.meta);
  map = new maplibregl.Map({
    container: 'map',
    style: state.meta.basemap_style_url || OFFLINE_STYLE,
    center: [-1.5, 54.5],
    zoom: 7,
    attributionControl: { customAttribution: 'Contains public sector information licensed under the Open Government Licence v3.0 (data.police.uk)' },
  });
  state.map = map;
  map.addControl(new maplibregl.NavigationControl(), 'top-right');
  map.on('load', async () => {
    map.addSource('cells', { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
    map.addLayer({ id: 'cells-fill', type: 'fill', source: 'cells', paint: { 'fill-color': '#31688e', 'fill-opacity': 0.75 } });
    map.addLayer({ id: 'cells-selected', type: 'line', source: 'cells', filter: ['==', ['get', 'id'], ''], paint: { 'line-color': '#000', 'line-width': 3 } });
    await addOutlines();
    map.on('moveend', () => scheduleLoad());
    map.on('click', 'cells-fill', (e) => { if (!state.routing && e.features.length) openPanel(e.features[0].properties.id); });
    setUpPatrol();
    map.on('mouseenter', 'cells-fill', () => { map.getCanvas().style.cursor = 'pointer'; });
    map.on('mouseleave', 'cells-fill', () => { map.getCanvas().style.cursor = ''; });
    await loadLayer();
    state.ready = true;
    if (!isPublic()) live();
  });
}

main().catch((err) => { setStatus(`error: ${err.message}`); state.errors.push(String(err)); });
