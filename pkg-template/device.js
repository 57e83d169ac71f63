// The device authorization grant (RFC 8628): `client.startDeviceAuthorization()` gets a code
// for the user to enter elsewhere, `waitForToken()` polls until they approve. The wasm core
// decides every step (which request, how long to wait, when to stop) and keeps the device
// code; this sends and sleeps, and stops at once when the caller's signal aborts.

import { failureEvent, grantOf, pollResult } from './events.js';
import { exchange } from './renewal.js';

/** What the user is shown, and the wait for their approval. */
export class DeviceAuthorization {
  #wait;

  constructor({ userCode, verificationUri, verificationUriComplete, expiresAt, interval }, wait) {
    this.userCode = userCode;
    this.verificationUri = verificationUri;
    if (verificationUriComplete !== undefined) this.verificationUriComplete = verificationUriComplete;
    this.expiresAt = expiresAt;
    this.interval = interval;
    this.#wait = wait;
  }

  /** The access token, once the user approves; rejects with `access_denied`, `expired_token`, `aborted`… */
  waitForToken(options) {
    return this.#wait(options);
  }
}

/**
 * Runs device steps from `first()` until `finish(step)` returns a value, which the promise
 * resolves with. `device`: `{ core, fetch, makeError, abortError, emit?, refreshing() }`
 * (`emit`: `onEvent`'s sink). An abort of `signal`
 * rejects at once, aborts the request under way and drops the flow: nothing more is sent.
 */
export function runDevice(device, first, signal, finish) {
  const { core, emit } = device;
  let polls = 0;
  return new Promise((resolve, reject) => {
    let stopped = false;
    let controller;
    let timer;
    const onAbort = () => {
      stopped = true;
      controller?.abort();
      clearTimeout(timer);
      core.cancel(true);
      reject(device.abortError());
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });

    const run = async () => {
      let step = first();
      for (;;) {
        if (step.error) {
          emit?.(failureEvent(step.error));
          throw device.makeError(step.error);
        }
        const result = finish(step);
        if (result !== undefined) return result;
        if (step.send) {
          const poll = emit && grantOf(step.send) === 'device_code';
          if (poll) emit({ type: 'request', grant: 'device_code', attempt: (polls += 1) });
          controller = new AbortController();
          const answer = await exchange(device.fetch, step.send, core.attemptTimeoutMs(Date.now()), controller);
          if (stopped) return undefined;
          step = answer.message === undefined
            ? core.answer(answer.now, answer.status, answer.contentType, answer.wait, answer.text, Math.random(), true)
            : core.unanswered(Date.now(), answer.timedOut, answer.message, Math.random(), true);
          const outcome = poll && pollResult(step, core.sleepCause);
          if (outcome) emit({ type: 'device_poll', result: outcome });
          if (poll && step.info) {
            emit({ type: 'token', grant: 'device_code', expiresAt: step.info.expiresAt, refreshed: device.refreshing() });
          }
        } else {
          if (step.sleep) await new Promise((wake) => { timer = setTimeout(wake, step.sleep); });
          if (stopped) return undefined;
          step = core.resume(Date.now(), true);
        }
      }
    };
    run().then(resolve, reject).finally(() => signal?.removeEventListener('abort', onAbort));
  });
}
