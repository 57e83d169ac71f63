// One candidate of the expiry section (sections/expiry.mjs) in a Node process of its own, so
// that no other candidate's work (JSON parsing, JWT decoding, its own token requests) ever
// runs on this event loop, inside the await being timed. Forked by the section with an IPC
// channel; the conversation is:
//
//   parent → { name, tokenUrl, tokenPath, issuer, intervalMs, durationMs }   (argv[2], JSON)
//   child  → { ready: true }                   once the candidate is built (modules loaded)
//                                              and its first, cold call has been answered
//   parent → { startAt }                       Date.now() at which the polling window opens
//   child  → { result: { calls, expired, … } } after durationMs of polling, then it exits
//
// For every call: the token's JWT `exp` against Date.now() at receipt (at or past `exp`
// counts as expired) and how long the caller waited (performance.now() around the await).
// The very first, cold call is made before the window opens and is left out of the waits
// (its wait is `coldWaitMs`); made as the window's first tick instead, it can outlast the
// 100 ms while every process starts at once, and the next ticks then wait for the same cold
// token request. It still counts among the calls and is checked against its token's `exp`.
// The child exits when the parent goes.

import { PKG, sleep } from './common.mjs';
import { benchClient } from './auth.mjs';
import { jwtExp, makeCandidates } from './candidates.mjs';

const spec = JSON.parse(process.argv[2]);
process.on('disconnect', () => process.exit(0));

const auth = { issuer: spec.issuer, tokenUrl: spec.tokenUrl, tokenPath: spec.tokenPath, client: benchClient };
const edgeModule = spec.name === 'edge' ? await import(`${PKG}node.js`) : undefined;
const [c] = await makeCandidates([spec.name], auth, edgeModule);

const state = { calls: 0, expired: 0, noExp: 0, errors: 0, maxPastExpMs: 0, waits: [], coldWaitMs: undefined, firstError: undefined };

async function poll(cold = false) {
  const start = performance.now();
  let value;
  try {
    value = await c.get();
  } catch (err) {
    state.errors++;
    state.firstError ??= String(err?.message ?? err).slice(0, 200);
    return;
  }
  const waited = performance.now() - start;
  const now = Date.now();
  state.calls++;
  const exp = jwtExp(c.token(value));
  if (exp === undefined) state.noExp++;
  else if (now >= exp * 1000) {
    state.expired++;
    state.maxPastExpMs = Math.max(state.maxPastExpMs, now - exp * 1000);
  }
  if (cold) state.coldWaitMs = waited;
  else state.waits.push(waited);
}

await poll(true);
const { startAt } = await new Promise((resolve) => {
  process.once('message', resolve);
  process.send({ ready: true });
});

await sleep(Math.max(0, startAt - Date.now()));
const inflight = new Set();
const tick = () => {
  const p = poll();
  inflight.add(p);
  p.finally(() => inflight.delete(p));
};
const windowStart = performance.now();
tick();
const timer = setInterval(tick, spec.intervalMs);
await sleep(Math.max(0, spec.durationMs - (performance.now() - windowStart)));
clearInterval(timer);
await Promise.all([...inflight]);

const result = { ...state, label: c.label, edgeStats: c.client?.stats() };
process.send({ result }, () => process.exit(0));
