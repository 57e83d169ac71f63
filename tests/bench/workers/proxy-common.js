// Shared by the two plain JS Workers of the benchmark: the caller's key check and the
// upstream request, kept as small as a hand-written proxy would be. Env: ORIGIN_URL,
// PROXY_KEYS (comma-separated keys, sent as "Proxy-Authorization: Bearer <key>").

export function keyAccepted(request, env) {
  const header = request.headers.get('proxy-authorization') ?? '';
  const key = header.startsWith('Bearer ') ? header.slice(7) : '';
  return key !== '' && String(env.PROXY_KEYS).split(',').includes(key);
}

export function upstreamRequest(request, env, token) {
  const url = new URL(request.url);
  const origin = new URL(env.ORIGIN_URL);
  const target = new URL(origin.pathname.replace(/\/$/, '') + url.pathname + url.search, origin);
  const headers = new Headers(request.headers);
  headers.delete('proxy-authorization');
  headers.delete('authorization');
  headers.delete('host');
  if (token !== undefined) headers.set('authorization', `Bearer ${token}`);
  return new Request(target, { method: request.method, headers, body: request.body, redirect: 'manual' });
}

export const unauthorized = () =>
  new Response(JSON.stringify({ error: 'unauthorized' }), { status: 401, headers: { 'content-type': 'application/json' } });
