// Thin client of the crimemap API.

export async function getJSON(url, signal) {
  const r = await fetch(url, { signal, headers: { Accept: 'application/json' } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    const err = new Error(body.detail || `HTTP ${r.status}`);
    err.status = r.status;
    throw err;
  }
  return body;
}

export async function send(method, url, headers = {}, json = undefined) {
  const h = { Accept: 'application/json', ...headers };
  if (json !== undefined) h['Content-Type'] = 'application/json';
  const r = await fetch(url, { method, headers: h, credentials: 'same-origin', body: json === undefined ? undefined : JSON.stringify(json) });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    const err = new Error(body.detail || `HTTP ${r.status}`);
    err.status = r.status;
    throw err;
  }
  return body;
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  return q.toString();
}
