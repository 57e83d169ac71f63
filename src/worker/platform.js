// The Worker's platform calls that would otherwise cross the wasm boundary once per header:
// each applies what the Rust side decided (header names comma-separated) in one call.

/** A copy of `headers` without the `dropped` names (the Rust side lists valid names only). */
export function copyWithout(headers, dropped) {
  const copy = new Headers(headers);
  for (const name of dropped.split(',')) copy.delete(name);
  return copy;
}

/**
 * The body's text, read to at most `limit` bytes whatever its framing (a `Content-Length`, or
 * none: chunked); `undefined` past it, when the read is cancelled. As `readCapped` in
 * pkg-template/renewal.js (the npm package's own copy).
 */
export async function readCapped(response, limit) {
  if (Number(response.headers.get('content-length')) > limit || !response.body) {
    response.body?.cancel().catch(() => {});
    return response.body ? undefined : '';
  }
  const reader = response.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  return new Blob(chunks).text();
}

/**
 * Sends to the origin with the token header set, through `via` (the global object, or a
 * service binding); redirects come back unfollowed.
 */
export function sendUpstream(via, url, method, headers, name, value, body) {
  headers.set(name, value);
  return via.fetch(url, { method, headers, body, redirect: 'manual' });
}

/**
 * Sends a request that has no body to the origin with a fresh token, with no Rust future in
 * between: the origin's response goes to `onResponse(response, status, connection, request,
 * value, ctx, route, started)` (status and Connection header read here, each a crossing
 * fewer), a failure to `onError(error, request, route, started)`. `via`: as for
 * `sendUpstream`; `route`: the route's index; `started`: when the request came, for the debug
 * log line.
 */
export function forwardFresh(via, url, request, dropped, name, value, ctx, route, started, onResponse, onError) {
  const headers = copyWithout(request.headers, dropped);
  headers.set(name, value);
  return via.fetch(url, { method: request.method, headers, redirect: 'manual' }).then(
    (response) => onResponse(response, response.status, response.headers.get('connection'), request, value, ctx, route, started),
    (error) => onError(error, request, route, started),
  );
}

/** `promise`, or `undefined` once `ms` have passed without it settling. */
export function withDeadline(promise, ms) {
  let timer;
  const deadline = new Promise((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** The origin's response for the caller: streamed, without `dropped`, with Server-Timing. */
export function relayResponse(response, dropped, timing) {
  const answer = new Response(response.body, response);
  for (const name of dropped.split(',')) answer.headers.delete(name);
  answer.headers.append('server-timing', timing);
  return answer;
}
