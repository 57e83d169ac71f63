// The I/O of one token renewal. The wasm core decides every step (which request, whether to
// retry, when to give up) and parses every answer; this runs the steps with the platform's
// fetch, AbortController and setTimeout, as one promise that every waiter shares.

import { failureEvent, grantOf } from './events.js';

/** Answers are read to at most this many bytes (the core refuses larger ones). */
const MAX_BODY_BYTES = 1 << 20;

/**
 * The body's text, read to at most `limit` bytes whatever its framing (a `Content-Length`, or
 * none: chunked); `undefined` past it, when the read is cancelled. As `readCapped` in the
 * Worker's src/worker/platform.js.
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

/** Node puts the real reason of a failed fetch in `cause`; neither names request contents. */
const networkMessage = (error) => {
  const message = error?.message ?? 'fetch failed';
  const reason = error?.cause?.message ?? error?.cause?.code;
  return reason ? `${message} (${reason})` : message;
};

/**
 * `Retry-After` as the wait it asks for, in ms: delay-seconds, or an HTTP-date (any form
 * RFC 9110 allows, read by `Date.parse`; a past one means now) less `now`. Anything else,
 * such as a bare number `Date.parse` would take for a date, is ignored. HTTP-dates are GMT,
 * which the asctime form does not say: without it, `Date.parse` would read local time.
 */
export const retryAfterMs = (value, now) => {
  const text = value?.trim() ?? '';
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = /^[a-z]{3}/i.test(text) ? Date.parse(text.endsWith('GMT') ? text : `${text} GMT`) : NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
};

/**
 * Sends `request` (a core `send` step) with the platform's fetch and reads its answer, all
 * within `timeoutMs`; `controller` aborts it. Resolves with `{ now, status, contentType,
 * wait, text }`, or `{ timedOut, message }` when no answer came.
 */
export async function exchange(fetch, { url, method, headers, body }, timeoutMs, controller) {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  try {
    // Redirects are not followed: a redirected POST would carry the credentials elsewhere, a
    // redirected discovery would trust another origin (the core refuses the 3xx). The
    // timeout covers reading the body. workerd knows only "follow" and "manual".
    const response = await fetch(url, { method, headers, body, redirect: 'manual', signal: controller.signal });
    const text = await readCapped(response, MAX_BODY_BYTES);
    const now = Date.now();
    const wait = retryAfterMs(response.headers.get('retry-after'), now);
    return { now, status: response.status, contentType: response.headers.get('content-type') ?? '', wait, text };
  } catch (error) {
    return { timedOut, message: networkMessage(error) };
  } finally {
    clearTimeout(timer);
  }
}

export class Renewal {
  #core;
  #fetch;
  #makeError;
  /** `onEvent`'s sink, if set; whether a token was held before (`token` events' `refreshed`). */
  #emit;
  #refreshing;
  /** Token requests sent so far, and the grant of the last one. */
  #attempt = 0;
  #grant;
  #controller = null;
  #cancelled = false;
  #watchdog;
  /** Whether the core has ended this renewal (its waiters are no longer counted). */
  done = false;

  /**
   * Runs the renewal a lookup started, from its `first` step (the core's `first()`).
   * `background`: on the next task, so the caller that triggered a refresh ahead of expiry
   * gets its cached token first.
   * `promise` settles with the core's token info, or rejects with `makeError(fields)`.
   * `emit`: `onEvent`'s sink, if any; `refreshing`: a token was held before this renewal.
   */
  constructor(core, first, fetch, makeError, background, emit, refreshing) {
    this.#core = core;
    this.#fetch = fetch;
    this.#makeError = makeError;
    this.#emit = emit;
    this.#refreshing = refreshing;
    const run = background
      ? new Promise((resolve) => setTimeout(resolve, 0)).then(() => this.#run(first))
      : this.#run(first);
    this.promise = this.#watched(run);
    // A background refresh may have no waiter: its rejection is not an unhandled one.
    this.promise.catch(() => {});
  }

  /**
   * `run`, or a timeout once maxWaitMs (and a little for the timers) has passed: the core ends
   * every renewal by then, so one still running was dropped by the platform (a runtime that
   * cancels what a finished request left running). It is cancelled, and the next caller
   * starts anew: no caller waits past its budget.
   */
  #watched(run) {
    const limit = this.#core.maxWaitMs + 250;
    const watchdog = new Promise((_, reject) => {
      this.#watchdog = setTimeout(() => {
        if (!this.done) this.cancel();
        reject(this.#makeError({ code: 'timeout', message: `no token within maxWaitMs (${limit - 250} ms)`, retryable: true }));
      }, limit);
    });
    return Promise.race([run, watchdog]).finally(() => clearTimeout(this.#watchdog));
  }

  /** Stops the request under way; the promise never settles (nobody waits for it). */
  cancel() {
    clearTimeout(this.#watchdog);
    this.#cancelled = true;
    this.#controller?.abort();
    this.#core.cancel(false);
  }

  /** Notes whether `step` ends the renewal, the moment the core says so. */
  #record(step) {
    this.done = Boolean(step.info || step.error);
    return step;
  }

  async #run(first) {
    let step = this.#record(first);
    while (!step.info) {
      if (step.error) {
        this.#emit?.(failureEvent(step.error));
        throw this.#makeError(step.error);
      }
      step = step.send ? await this.#send(step.send) : await this.#sleep(step.sleep);
      if (this.#cancelled) return new Promise(() => {});
    }
    const { expiresAt } = step.info;
    this.#emit?.(step.stale
      ? { type: 'stale', expiresAt }
      : { type: 'token', grant: this.#grant, expiresAt, refreshed: this.#refreshing });
    return step.info;
  }

  async #sleep(ms) {
    this.#emit?.({ type: 'retry', attempt: this.#attempt, waitMs: ms, code: this.#core.sleepCause });
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.#cancelled ? {} : this.#record(this.#core.resume(Date.now(), false));
  }

  async #send(request) {
    const grant = this.#emit && grantOf(request);
    if (grant) {
      this.#grant = grant;
      this.#attempt += 1;
      this.#emit({ type: 'request', grant, attempt: this.#attempt });
    }
    const controller = new AbortController();
    this.#controller = controller;
    const answer = await exchange(this.#fetch, request, this.#core.attemptTimeoutMs(Date.now()), controller);
    this.#controller = null;
    if (this.#cancelled) return {};
    const core = this.#core;
    return this.#record(
      answer.message === undefined
        ? core.answer(answer.now, answer.status, answer.contentType, answer.wait, answer.text, Math.random(), false)
        : core.unanswered(Date.now(), answer.timedOut, answer.message, Math.random(), false),
    );
  }
}
