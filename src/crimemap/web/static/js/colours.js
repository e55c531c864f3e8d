// Colour-blind-safe palettes: viridis (sequential) and Okabe-Ito (classes).
export const VIRIDIS = ['#440154', '#482878', '#3e4989', '#31688e', '#26828e',
  '#1f9e89', '#35b779', '#6ece58', '#b5de2b', '#fde725'];

export const HOT = '#d55e00';      // Okabe-Ito vermillion
export const WARM = '#e69f00';     // orange
export const COLD = '#0072b2';     // blue
export const COOL = '#56b4e9';     // sky blue

/** Value at position t (0..1) of the ramp: a square-root scale, as crime counts are skewed. */
export function rampValue(max, t) {
  return (max > 0 ? max : 1) * t * t;
}

/** A MapLibre colour expression: viridis over [0, max] of 'value' on a square-root scale. */
export function sequential(max) {
  const stops = [];
  VIRIDIS.forEach((c, k) => { stops.push(rampValue(max, k / (VIRIDIS.length - 1)), c); });
  return ['interpolate', ['linear'], ['get', 'value'], ...stops];
}

/** Gi* classes: +1 hot, -1 cold, 0 not significant. */
export function hotspotColour() {
  return ['match', ['get', 'class'], 1, HOT, -1, COLD, '#bbbbbb'];
}

/** Emerging classes: 1-8 hot kinds, 9-16 cold kinds, 0 no pattern. */
export function emergingColour() {
  return ['case',
    ['==', ['get', 'value'], 0], '#dddddd',
    ['<=', ['get', 'value'], 2], HOT,        // new, consecutive
    ['<=', ['get', 'value'], 5], WARM,       // intensifying, persistent, diminishing
    ['<=', ['get', 'value'], 8], '#f0c08a',  // sporadic, oscillating, historical
    ['<=', ['get', 'value'], 10], COLD,
    ['<=', ['get', 'value'], 13], COOL,
    '#b9d9ee'];
}

export const EMERGING_GROUPS = [
  [HOT, 'new or consecutive hot spot'],
  [WARM, 'intensifying, persistent or diminishing hot spot'],
  ['#f0c08a', 'sporadic, oscillating or historical hot spot'],
  [COLD, 'new or consecutive cold spot'],
  [COOL, 'intensifying, persistent or diminishing cold spot'],
  ['#b9d9ee', 'other cold spot'],
  ['#dddddd', 'no pattern'],
];
