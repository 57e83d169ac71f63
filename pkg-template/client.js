// The public TokenClient and TokenError. The engine is the wasm CoreClient; this wrapper
// keeps the cache-hit path on the JS side of the boundary: while a token is fresh (the core
// says until when), getToken() answers from here without calling into wasm.

import { CoreClient } from './edge_oauth.js';

/** Every failure: `code` is the OAuth `error` as sent, or the client's own code. */
export class TokenError extends Error {
  constructor({ code, message, status, description, uri, retryable }) {
    super(message);
    this.name = 'TokenError';
    this.code = code;
    this.status = status;
    this.description = description;
    this.uri = uri;
    this.retryable = retryable;
  }
}

const makeError = (fields) => new TokenError(fields);

const publicInfo = ({ accessToken, tokenType, expiresAt, scope }) =>
  scope === undefined ? { accessToken, tokenType, expiresAt } : { accessToken, tokenType, expiresAt, scope };

export class TokenClient {
  #core;
  /** The core's last answer `{ accessToken, tokenType, expiresAt, scope?, freshUntil }`. */
  #info = null;
  /** Until then (ms since epoch) #info is handed out without asking the core. */
  #freshUntil = 0;
  /** Bumped when the token is dropped, so answers that started earlier are not cached. */
  #epoch = 0;
  #hits = 0;

  constructor(options) {
    this.#core = new CoreClient(options, makeError);
  }

  getToken(options) {
    if (Date.now() < this.#freshUntil && !options?.forceRefresh) {
      this.#hits++;
      return Promise.resolve(this.#info.accessToken);
    }
    return this.#ask(options).then((info) => info.accessToken);
  }

  getTokenInfo(options) {
    return this.#current(options).then(publicInfo);
  }

  authorizationHeader(options) {
    const name = this.#core.headerName;
    return this.#current(options).then((info) => [name, `${info.tokenType} ${info.accessToken}`]);
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
    if (Date.now() < this.#freshUntil && !options?.forceRefresh) {
      this.#hits++;
      return Promise.resolve(this.#info);
    }
    return this.#ask(options);
  }

  #ask(options) {
    const forceRefresh = options?.forceRefresh === true;
    if (forceRefresh) this.#forget();
    const epoch = this.#epoch;
    return this.#core.get(forceRefresh, options?.signal ?? undefined).then((info) => {
      if (epoch === this.#epoch) {
        this.#info = info;
        this.#freshUntil = info.freshUntil;
      }
      return info;
    });
  }

  #forget() {
    this.#info = null;
    this.#freshUntil = 0;
    this.#epoch++;
  }
}
