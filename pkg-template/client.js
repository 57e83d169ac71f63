// The public TokenClient and TokenError. The wasm CoreClient decides, builds and parses;
// this wrapper does the I/O (renewal.js) and keeps the cache-hit path on the JS side of the
// boundary: while a token is fresh (the core says until when), getToken() answers from here
// without calling into wasm.

import { CoreClient } from './edge_oauth.js';
import { flatOptions } from './options.js';
import { Renewal, readCapped } from './renewal.js';

/** Every failure: `code` is the OAuth `error` as sent, or the client's own code. */
export class TokenError extends Error {
  constructor({ code, message, status, description, uri, retryable, retryAfter }) {
    super(message);
    this.name = 'TokenError';
    this.code = code;
    this.status = status;
    this.description = description;
    this.uri = uri;
    this.retryable = retryable;
    this.retryAfter = retryAfter;
  }
}

const makeError = (fields) => new TokenError(fields);

const configError = (text) => {
  throw makeError({ code: 'config', message: `invalid configuration: ${text}`, retryable: false });
};

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

/** Error bodies larger than this are not looked into. */
const REFUSAL_BODY_LIMIT = 64 * 1024;

/** A per-call option, from the object's own properties only (never a polluted prototype). */
const option = (options, name) => (options != null && Object.hasOwn(options, name) ? options[name] : undefined);

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

/** The bits of the core's `lookup()`: hand out the cached token; start the renewal; fail at once (cooling down). */
const SERVE = 1;
const START = 2;
const COOLING = 4;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 20;

const publicInfo = ({ accessToken, tokenType, expiresAt, scope }) =>
  scope === undefined ? { accessToken, tokenType, expiresAt } : { accessToken, tokenType, expiresAt, scope };

export class TokenClient {
  #core;
  #headerName;
  /** The renewal under way (or the last one). */
  #renewal = null;
  /** The core's last answer `{ accessToken, tokenType, headerValue, expiresAt, scope?, freshUntil }`. */
  #info = null;
  /** Until then (ms since epoch) #info is handed out without asking the core. */
  #freshUntil = 0;
  /** Bumped when the token is dropped, so answers that started earlier are not cached. */
  #epoch = 0;
  #hits = 0;
  #fetch;

  constructor(options) {
    const { flat, fetch } = flatOptions(options, configError);
    try {
      this.#core = new CoreClient(flat);
    } catch (fields) {
      throw fields instanceof Error ? fields : makeError(fields);
    }
    this.#headerName = this.#core.headerName;
    this.#fetch = (input, init) => fetch(input, init); // called unbound, as browsers require
  }

  getToken(options) {
    if (this.#isFresh(options)) {
      this.#hits++;
      return Promise.resolve(this.#info.accessToken);
    }
    return this.#ask(options).then((info) => info.accessToken);
  }

  getTokenInfo(options) {
    return this.#current(options).then(publicInfo);
  }

  authorizationHeader(options) {
    const name = this.#headerName;
    return this.#current(options).then((info) => [name, info.headerValue]);
  }

  /**
   * `fetch` with the token attached. A 401 (or InfoLink's nested invalid_grant body) drops the
   * token, and a request whose body can be replayed is sent once more with a new one. The token
   * only goes to the request's own origin: a redirect elsewhere is returned, not followed.
   */
  async fetch(input, init) {
    const canReplay = replayable(input, init);
    const first = await this.#sendWithToken(input, init, canReplay);
    // At most one renewal per refused token: not for a token that replaced a refused one.
    if (!(await this.#refused(first)) || !this.#renewAfterRefusal(first.accessToken) || !canReplay) {
      return first.response;
    }
    first.response.body?.cancel().catch(() => {});
    const second = await this.#sendWithToken(input, init, canReplay);
    if (await this.#refused(second)) this.#renewAfterRefusal(second.accessToken);
    return second.response;
  }

  async #sendWithToken(input, init, canReplay) {
    const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined);
    const info = await this.#current({ signal });
    const request = new Request(input, init);
    request.headers.set(this.#headerName, info.headerValue);
    const response = await this.#followSameOrigin(request, init?.body, canReplay);
    return { response, accessToken: info.accessToken, url: request.url };
  }

  /** Whether the API refused the token `sent` carried; an acceptance is told to the core. */
  async #refused(sent) {
    const endpoint = this.#core.tokenEndpoint;
    const fromTokenOrigin = endpoint !== undefined && new URL(endpoint).origin === new URL(sent.url).origin;
    const refused = await tokenRefused(sent.response, fromTokenOrigin, this.#core.attemptTimeoutMs(Date.now()));
    if (!refused && this.#core.awaitsAcceptance()) this.#core.accepted(sent.accessToken);
    return refused;
  }

  /** Tells the core an API refused `accessToken`: true when a new token is to be tried. */
  #renewAfterRefusal(accessToken) {
    const renew = this.#core.refused(Date.now(), accessToken, Math.random());
    if (renew && this.#info?.accessToken === accessToken) this.#forget();
    return renew;
  }

  /** Follows redirects within the request's origin (with the token); returns any other. */
  async #followSameOrigin(request, body, canReplay) {
    if (request.redirect !== 'follow') return this.#fetch(request);
    const origin = new URL(request.url).origin;
    let response = await this.#fetch(new Request(request, { redirect: 'manual' }));
    let { method, url } = request;
    for (let hop = 0; hop < MAX_REDIRECTS && REDIRECTS.has(response.status); hop++) {
      const location = response.headers.get('location');
      const next = location && new URL(location, url);
      const keepsBody = response.status === 307 || response.status === 308;
      if (!next || next.origin !== origin || (keepsBody && !canReplay && method !== 'GET')) break;
      if (!keepsBody && method !== 'HEAD') method = 'GET';
      url = next.href;
      response.body?.cancel().catch(() => {});
      response = await this.#fetch(
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

  invalidate() {
    this.#forget();
    this.#core.invalidate();
  }

  stats() {
    const stats = this.#core.stats();
    stats.cacheHits += this.#hits;
    return stats;
  }

  #current(options) {
    if (this.#isFresh(options)) {
      this.#hits++;
      return Promise.resolve(this.#info);
    }
    return this.#ask(options);
  }

  /** Whether the cached token can be handed out at once, without asking the core. */
  #isFresh(options) {
    return (
      Date.now() < this.#freshUntil &&
      (options === undefined || (!option(options, 'forceRefresh') && !option(options, 'signal')?.aborted))
    );
  }

  #ask(options) {
    const signal = option(options, 'signal') ?? undefined;
    if (signal?.aborted) return Promise.reject(this.#abortError());
    if (option(options, 'forceRefresh') === true) this.invalidate();
    const epoch = this.#epoch;
    const now = Date.now();
    const decision = this.#core.lookup(now);
    if (decision & COOLING) return Promise.reject(makeError(this.#core.failure(now)));
    const info = decision & SERVE ? this.#core.info() : undefined;
    if (decision & START) this.#renewal = new Renewal(this.#core, this.#fetch, makeError, info !== undefined);
    const answer = info ? Promise.resolve(info) : signal ? this.#waitOrAbort(signal) : this.#renewal.promise;
    return answer.then((info) => {
      if (epoch === this.#epoch) {
        this.#info = info;
        this.#freshUntil = info.freshUntil;
      }
      return info;
    });
  }

  /** Waits for the renewal unless `signal` aborts first; the last waiter to leave stops it. */
  #waitOrAbort(signal) {
    const renewal = this.#renewal;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        if (!renewal.done && this.#core.leave()) renewal.cancel();
        reject(this.#abortError());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      renewal.promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  #abortError() {
    return makeError(this.#core.abortError());
  }

  #forget() {
    this.#info = null;
    this.#freshUntil = 0;
    this.#epoch++;
  }
}
