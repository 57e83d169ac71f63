// A controllable clock for the npm TokenClient, so timing tests neither wait for real time
// nor pass or fail by the machine's load. The client reads `Date.now()` and calls
// `setTimeout`/`clearTimeout` on the global object when it needs them; node:test's
// mock.timers replaces those, and a scripted in-process fetch (the client's `fetch` option)
// stands in for the token endpoint, its delays on the same mocked clock.
//
//   const clock = mockClock(t);                  // t: the test context; undone when it ends
//   const idp = scriptedFetch([{ status: 429, headers: { 'retry-after': '1' }, body: {...} }, ...]);
//   const pending = settled(new TokenClient({ ..., fetch: idp.fetch }).getToken());
//   await clock.advance(999);                    // time moves 999 ms, every due timer runs
//   idp.calls                                    // [{ at, url, init }]: `at` on the mocked clock
//   pending.state                                // 'pending' | 'fulfilled' | 'rejected'
import { setImmediate as nextTurn } from 'node:timers/promises';

/** Mid-2026, a whole second: Date.now() starts here unless told otherwise. */
export const CLOCK_START = Date.UTC(2026, 6, 1, 12, 0, 0);

/** Lets every promise continuation (and the streams reading a body) run. */
export async function flush() {
  for (let i = 0; i < 3; i += 1) await nextTurn();
}

/**
 * Mocks setTimeout, clearTimeout and Date for the rest of the test `t`, starting at `now`.
 * advance(ms) moves the clock in `step`-ms steps, letting promises settle after each, so a
 * timer set by code that ran at +x fires at +x + its delay, as it would in real time.
 */
export function mockClock(t, now = CLOCK_START) {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now });
  const start = now;
  return {
    start,
    /** Milliseconds since the clock started. */
    elapsed: () => Date.now() - start,
    async advance(ms, step = 1) {
      await flush();
      // advance(0) still runs what is due now (a setTimeout(fn, 0), say).
      let left = ms;
      do {
        t.mock.timers.tick(Math.min(step, left));
        left -= step;
        await flush();
      } while (left > 0);
    },
  };
}

/** Tracks a promise's outcome without awaiting it (and without an unhandled rejection). */
export function settled(promise) {
  const box = { state: 'pending', value: undefined, error: undefined, promise };
  promise.then(
    (value) => Object.assign(box, { state: 'fulfilled', value }),
    (error) => Object.assign(box, { state: 'rejected', error }),
  );
  return box;
}

const abortError = () => new DOMException('This operation was aborted', 'AbortError');

/**
 * A fetch answering from `answers` in order (the last one repeats): each
 * { status = 200, headers, body (object → JSON, string as is), delayMs, hang }. delayMs waits
 * on the (mocked) clock before the answer; hang never answers. Both end with an AbortError
 * when the request's signal aborts, as the platform's fetch does. calls: [{ at, url, init }];
 * set(answers) replaces the script (the server changes its mind).
 */
export function scriptedFetch(answers) {
  let script;
  let answered;
  const set = (next) => {
    script = Array.isArray(next) ? next : [next];
    answered = 0;
  };
  set(answers);
  const calls = [];
  const fetch = (input, init = {}) => {
    calls.push({ at: Date.now(), url: String(input instanceof Request ? input.url : input), init });
    const answer = script[Math.min(answered, script.length - 1)];
    answered += 1;
    const { signal } = init;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortError());
      let timer;
      const respond = () => {
        signal?.removeEventListener('abort', onAbort);
        const { status = 200, headers = {}, body = '' } = answer;
        const text = typeof body === 'string' ? body : JSON.stringify(body);
        const type = typeof body === 'string' ? {} : { 'content-type': 'application/json' };
        resolve(new Response(text, { status, headers: { ...type, ...headers } }));
      };
      const onAbort = () => {
        clearTimeout(timer);
        reject(abortError());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (answer.hang) return undefined;
      if (answer.delayMs) timer = setTimeout(respond, answer.delayMs);
      else respond();
      return undefined;
    });
  };
  return { fetch, calls, set };
}
