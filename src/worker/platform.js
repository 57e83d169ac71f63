// The Worker's platform calls that would otherwise cross the wasm boundary once per header:
// each applies what the Rust side decided (header names comma-separated) in one call.

/**
 * What the proxy decides a request on, in one crossing: `"<1 if it has a body, else 0><the
 * key header's value>\n<URL>\n<Connection header>"` (absent headers read as empty). Header
 * values and serialized URLs never hold a newline.
 */
export function requestFacts(request, keyHeader) {
  const headers = request.headers;
  return `${request.body === null ? 0 : 1}${headers.get(keyHeader) ?? ''}\n${request.url}\n${headers.get('connection') ?? ''}`;
}

/** A copy of `headers` without the `dropped` names. */
export function copyWithout(headers, dropped) {
  const copy = new Headers(headers);
  for (const name of dropped.split(',')) copy.delete(name);
  return copy;
}

/** Sends to the origin with the token header set; redirects come back unfollowed. */
export function sendUpstream(url, method, headers, name, value, body) {
  headers.set(name, value);
  return fetch(url, { method, headers, body, redirect: 'manual' });
}

/**
 * Sends a request that has no body to the origin with a fresh token, with no Rust future in
 * between. An answer that needs no decision (not a 401, no `Connection` header) is relayed
 * here with `relayDropped` and `timing`; any other goes to `onResponse(response, status,
 * connection, request, value)`, a failure to `onError(error)`.
 */
export function forwardFresh(url, request, dropped, name, value, relayDropped, timing, onResponse, onError) {
  const headers = copyWithout(request.headers, dropped);
  headers.set(name, value);
  return fetch(url, { method: request.method, headers, redirect: 'manual' }).then((response) => {
    const connection = response.headers.get('connection');
    if (response.status !== 401 && connection === null) return relayResponse(response, relayDropped, timing);
    return onResponse(response, response.status, connection, request, value);
  }, onError);
}

/** The origin's response for the caller: streamed, without `dropped`, with Server-Timing. */
export function relayResponse(response, dropped, timing) {
  const answer = new Response(response.body, response);
  for (const name of dropped.split(',')) answer.headers.delete(name);
  answer.headers.append('server-timing', timing);
  return answer;
}
