// The public TokenClient and TokenError. The wasm CoreClient decides, builds and parses;
// this wrapper does the I/O (renewal.js) and keeps the cache-hit path on the JS side of the
// boundary: while a token is fresh (the core says until when), getToken() answers from here
// without calling into wasm.

import { CoreClient } from './edge_oauth.js';
import { flatOptions } from './options.js';
import { authorizedFetch } from './authorized-fetch.js';
import { DeviceAuthorization, runDevice } from './device.js';
import { eventSink } from './events.js';
import { Renewal } from './renewal.js';

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

/** A per-call option, from the object's own properties only (never a polluted prototype). */
const option = (options, name) => (options != null && Object.hasOwn(options, name) ? options[name] : undefined);

/** The bits of the core's `lookup()`: hand out the cached token; a renewal started (its first step is `first()`); fail at once (cooling down). */
const SERVE = 1;
const START = 2;
const COOLING = 4;

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
  /** What the authorized fetch needs of the client. */
  #session;
  /** What the device flow needs of the client. */
  #device;
  /** `onEvent`'s sink, if set; whether a token was ever held; why the next renewal runs. */
  #emit;
  #hadToken = false;
  #reason;

  constructor(options) {
    const { flat, fetch, onEvent } = flatOptions(options, configError);
    this.#emit = eventSink(onEvent);
    try {
      this.#core = new CoreClient(flat);
    } catch (fields) {
      throw fields instanceof Error ? fields : makeError(fields);
    }
    this.#headerName = this.#core.headerName;
    this.#fetch = (input, init) => fetch(input, init); // called unbound, as browsers require
    this.#device = {
      core: this.#core,
      fetch: this.#fetch,
      makeError,
      abortError: () => this.#abortError(),
      emit: this.#emit,
      refreshing: () => this.#hadToken,
    };
    this.#session = {
      headerName: this.#headerName,
      fetch: this.#fetch,
      current: (options) => this.#current(options),
      tokenEndpoint: () => this.#core.tokenEndpoint,
      timeoutMs: () => this.#core.attemptTimeoutMs(Date.now()),
      accepted: (accessToken) => {
        if (this.#core.awaitsAcceptance()) this.#core.accepted(accessToken);
      },
      refused: (accessToken) => {
        const renew = this.#core.refused(Date.now(), accessToken, Math.random());
        if (renew && this.#info?.accessToken === accessToken) this.#forget();
        if (renew) this.#reason = 'refused';
        return renew;
      },
    };
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
   * `fetch` with the token attached (authorized-fetch.js): a refused token is renewed and a
   * request whose body can be replayed is sent once more; redirects stay within the origin.
   */
  fetch(input, init) {
    return authorizedFetch(this.#session, input, init);
  }

  /**
   * Starts a device authorization (RFC 8628): resolves with what to show the user, whose
   * `waitForToken()` polls until they approve. The token then serves `getToken()` and the
   * rest, renewed through its refresh token.
   */
  async startDeviceAuthorization(options) {
    const given = option(options, 'scope') ?? undefined;
    const list = typeof given === 'string' ? [given] : given;
    if (list !== undefined && !(Array.isArray(list) && list.every((s) => typeof s === 'string'))) {
      configError('scope must be a string or an array of strings');
    }
    const scope = list?.join(' ');
    const device = this.#device;
    const wait = (waitOptions) =>
      runDevice(device, () => this.#core.resume(Date.now(), true), option(waitOptions, 'signal'), (step) => {
        if (!step.info) return undefined;
        this.#forget(); // the next getToken() asks the core, which holds the new token
        this.#hadToken = true;
        return step.info.accessToken;
      });
    return runDevice(device, () => this.#core.deviceStart(Date.now(), scope), option(options, 'signal'), (step) =>
      step.authorized ? new DeviceAuthorization(step.authorized, wait) : undefined);
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
    if (option(options, 'forceRefresh') === true) {
      this.invalidate();
      this.#reason = 'forced';
    }
    const epoch = this.#epoch;
    const now = Date.now();
    const decision = this.#core.lookup(now);
    if (decision & COOLING) return Promise.reject(makeError(this.#core.failure(now)));
    const info = decision & SERVE ? this.#core.info() : undefined;
    if (decision & START) {
      this.#emit?.({ type: 'renewal', reason: info ? 'refresh_ahead' : this.#reason ?? 'cold' });
      this.#reason = undefined;
      this.#renewal = new Renewal(this.#core, this.#core.first(now), this.#fetch, makeError, info !== undefined, this.#emit, this.#hadToken);
    }
    const answer = info ? Promise.resolve(info) : signal ? this.#waitOrAbort(signal) : this.#renewal.promise;
    return answer.then((info) => {
      this.#hadToken = true;
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
