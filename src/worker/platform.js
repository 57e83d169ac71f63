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

// ---- The token broker (src/worker/broker_client.rs, broker_object.rs): WebCrypto and the
// Durable Object stub, each one call.

const encoder = new TextEncoder();
const hex = (bytes) => [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, '0')).join('');

/** Hex SHA-256 of `text`: how an isolate names a refused token to its broker. */
export async function sha256Hex(text) {
  return hex(await crypto.subtle.digest('SHA-256', encoder.encode(text)));
}

/** A credential's broker name: hex SHA-256 of `publicPart`, a zero byte, and SHA-256 of `secretPart`. */
export async function brokerName(publicPart, secretPart) {
  const secretHash = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(secretPart)));
  const publicBytes = encoder.encode(publicPart);
  const joined = new Uint8Array(publicBytes.length + 1 + secretHash.length);
  joined.set(publicBytes);
  joined.set(secretHash, publicBytes.length + 1);
  return hex(await crypto.subtle.digest('SHA-256', joined));
}

/**
 * Asks the broker named `name` in `namespace` for `url`: the text of its 200 answer, or
 * undefined when it throws, answers otherwise, or has not answered within `timeoutMs`.
 */
export async function askBroker(namespace, name, url, timeoutMs) {
  let timer;
  const late = new Promise((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  try {
    const stub = namespace.get(namespace.idFromName(name));
    const answer = await Promise.race([stub.fetch(url, { headers: { 'x-edge-oauth-credential': name } }), late]);
    if (answer === undefined) return undefined;
    if (answer.status !== 200) {
      answer.body?.cancel().catch(() => {});
      return undefined;
    }
    return await Promise.race([answer.text(), late]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** The AES-GCM key for a broker's storage: HKDF-SHA-256 of the secret, salted with the name. */
async function storageKey(secret, salt, info, usage) {
  const base = await crypto.subtle.importKey('raw', encoder.encode(secret), 'HKDF', false, ['deriveKey']);
  const params = { name: 'HKDF', hash: 'SHA-256', salt: encoder.encode(salt), info: encoder.encode(info) };
  return crypto.subtle.deriveKey(params, base, { name: 'AES-GCM', length: 256 }, false, [usage]);
}

/** `plaintext` sealed with AES-GCM under the storage key: base64 of a 12-byte IV and the ciphertext. */
export async function seal(secret, salt, info, plaintext) {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const key = await storageKey(secret, salt, info, 'encrypt');
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, encoder.encode(plaintext)));
  const joined = new Uint8Array(iv.length + sealed.length);
  joined.set(iv);
  joined.set(sealed, iv.length);
  return btoa(String.fromCharCode(...joined));
}

/** What `seal` sealed, or undefined when it does not open (another key, or tampered with). */
export async function unseal(secret, salt, info, sealed) {
  try {
    const bytes = Uint8Array.from(atob(sealed), (c) => c.charCodeAt(0));
    const key = await storageKey(secret, salt, info, 'decrypt');
    const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: bytes.subarray(0, 12) }, key, bytes.subarray(12));
    return new TextDecoder().decode(plain);
  } catch {
    return undefined;
  }
}
