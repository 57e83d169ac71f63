// `TokenClient.fetch`: the platform's fetch with the client's token attached. A refused token
// (a 401, or InfoLink's nested body from the token endpoint's origin) is renewed at most once
// per token, as the core decides, and a request whose body can be replayed is sent once more.
// The token only goes to the request's own origin: a redirect elsewhere is returned unfollowed.
//
// `session` is what it needs of the client: { headerName, fetch, current(options) → info,
// tokenEndpoint(), timeoutMs(), accepted(accessToken), refused(accessToken) → renew? }.

import { readCapped } from './renewal.js';

/** Error bodies larger than this are not looked into. */
const REFUSAL_BODY_LIMIT = 64 * 1024;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 20;

export async function authorizedFetch(session, input, init) {
  const canReplay = replayable(input, init);
  const first = await sendWithToken(session, input, init, canReplay);
  // At most one renewal per refused token: not for a token that replaced a refused one.
  if (!(await refusedBy(session, first)) || !session.refused(first.accessToken) || !canReplay) {
    return first.response;
  }
  first.response.body?.cancel().catch(() => {});
  const second = await sendWithToken(session, input, init, canReplay);
  if (await refusedBy(session, second)) session.refused(second.accessToken);
  return second.response;
}

/** Bodies that can be sent again for the retry after a 401; a stream is read only once. */
const replayable = (input, init) => {
  const body = init?.body;
  if (body === undefined || body === null) return !(input instanceof Request && input.body !== null);
  return (
    typeof body === 'string' ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof Blob ||
    body instanceof URLSearchParams ||
    body instanceof FormData
  );
};

async function sendWithToken(session, input, init, canReplay) {
  const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined);
  const info = await session.current({ signal });
  const request = new Request(input, init);
  request.headers.set(session.headerName, info.headerValue);
  const response = await followSameOrigin(session.fetch, request, init?.body, canReplay);
  return { response, accessToken: info.accessToken, url: request.url };
}

/** Whether the API refused the token `sent` carried; an acceptance is told to the client. */
async function refusedBy(session, sent) {
  const endpoint = session.tokenEndpoint();
  const fromTokenOrigin = endpoint !== undefined && new URL(endpoint).origin === new URL(sent.url).origin;
  const refused = await tokenRefused(sent.response, fromTokenOrigin, session.timeoutMs());
  if (!refused) session.accepted(sent.accessToken);
  return refused;
}

/**
 * Whether the API refused the token: a 401, or, from the token endpoint's own origin (where
 * InfoLink serves its API), a 4xx whose JSON body has InfoLink's shape
 * `{"result":{"code":"invalid_grant",...},"status":"error"}`: elsewhere an API that reflects
 * such a body could make a POST go twice. Reads a clone: the response stays unread.
 */
async function tokenRefused(response, fromTokenOrigin, timeoutMs) {
  if (response.status === 401) return true;
  if (!fromTokenOrigin || response.status < 400 || response.status > 499) return false;
  // A body that stalls is given up on after timeoutMs: the caller gets the response as it is.
  let timer;
  const stalled = new Promise((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  try {
    const text = await Promise.race([readCapped(response.clone(), REFUSAL_BODY_LIMIT), stalled]);
    const body = text && JSON.parse(text);
    return body?.status === 'error' && body?.result?.code === 'invalid_grant';
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** Follows redirects within the request's origin (with the token); returns any other. */
async function followSameOrigin(fetch, request, body, canReplay) {
  if (request.redirect !== 'follow') return fetch(request);
  const origin = new URL(request.url).origin;
  let response = await fetch(new Request(request, { redirect: 'manual' }));
  let { method, url } = request;
  for (let hop = 0; hop < MAX_REDIRECTS && REDIRECTS.has(response.status); hop++) {
    const location = response.headers.get('location');
    const next = location && new URL(location, url);
    const keepsBody = response.status === 307 || response.status === 308;
    if (!next || next.origin !== origin || (keepsBody && !canReplay && method !== 'GET')) break;
    if (!keepsBody && method !== 'HEAD') method = 'GET';
    url = next.href;
    response.body?.cancel().catch(() => {});
    response = await fetch(
      new Request(url, {
        method,
        headers: request.headers,
        body: keepsBody && method !== 'GET' && method !== 'HEAD' ? body : undefined,
        signal: request.signal,
        redirect: 'manual',
      }),
    );
  }
  return response;
}
