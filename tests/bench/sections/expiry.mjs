// 3. Expiry correctness: 5-second tokens, every candidate polled every 100 ms for 12 s, all
// in the same window against one oidc-provider (one client id each, counted per client).
// Each candidate runs in a Node process of its own (lib/expiry-poller.mjs), so no other
// candidate's work (JSON parsing, JWT decoding, its token requests) ever lands on its event
// loop inside a timed call; the starts are staggered across the 100 ms all the same, so the
// processes do not all wake at the same instant. For every call: the token's JWT `exp`
// against Date.now() at receipt (a token at or past `exp` counts as expired), and how long the
// caller waited (performance.now() around the await). Each process makes its very first,
// cold call before the window opens; it counts among the calls but is left out of the waits
// (`coldWaitMs`), so no call in the window waits on a cold token request.

import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { fmt, median, row, runSection } from '../lib/common.mjs';
import { startAuth } from '../lib/auth.mjs';

const NAMES = ['edge', 'baseline', 'badgateway', 'simple', 'oauth4webapi', 'openid'];
const POLLER = fileURLToPath(new URL('../lib/expiry-poller.mjs', import.meta.url));

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** Resolves with the first message for which pick(message) is not undefined; rejects on exit or timeout. */
function nextMessage(child, what, timeoutMs, pick) {
  return new Promise((resolve, reject) => {
    const done = (fn, value) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      fn(value);
    };
    const onMessage = (message) => {
      const value = pick(message);
      if (value !== undefined) done(resolve, value);
    };
    const onExit = (code, signal) => done(reject, new Error(`${what}: poller exited (${signal ?? code})`));
    const timer = setTimeout(() => done(reject, new Error(`${what}: no answer within ${timeoutMs} ms`)), timeoutMs);
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

await runSection('expiry', async (opts) => {
  const ttl = opts.ttlSeconds ?? 5;
  const intervalMs = opts.intervalMs ?? 100;
  const durationMs = opts.durationMs ?? 12_000;
  const names = opts.names ?? NAMES;
  const auth = await startAuth(names);
  const children = [];
  try {
    await auth.setTtl(ttl);
    for (const name of names) {
      const spec = { name, issuer: auth.issuer, tokenUrl: auth.tokenUrl, tokenPath: auth.tokenPath, intervalMs, durationMs };
      // The pollers' stdout goes to stderr: without --out, stdout carries the section's JSON alone.
      const child = fork(POLLER, [JSON.stringify(spec)], { stdio: ['ignore', 2, 2, 'ipc'] });
      children.push({ name, child });
    }
    // Every process has loaded its modules, built its client and had its cold call answered
    // before the window opens.
    await Promise.all(children.map(({ name, child }) => nextMessage(child, `${name} start`, 30_000, (m) => (m?.ready ? true : undefined))));
    const finished = children.map(({ name, child }) =>
      nextMessage(child, name, durationMs + 20_000, (m) => m?.result),
    );
    const startAt = Date.now() + 250;
    children.forEach(({ child }, i) => child.send({ startAt: startAt + (i * intervalMs) / children.length }));
    const polled = await Promise.all(finished);
    const counts = (await auth.counts()).byClient;

    const results = {};
    children.forEach(({ name }, i) => {
      const r = polled[i];
      const sorted = [...r.waits].sort((a, b) => a - b);
      results[name] = {
        label: r.label,
        calls: r.calls,
        errors: r.errors,
        ...(r.firstError && { firstError: r.firstError }),
        expired: r.expired,
        notJwt: r.noExp,
        maxPastExpMs: r.maxPastExpMs,
        tokenRequests: counts[auth.client(name).clientId] ?? 0,
        coldWaitMs: r.coldWaitMs,
        waitMsMax: sorted.at(-1) ?? 0,
        waitMsP50: sorted.length ? median(sorted) : 0,
        waitMsP99: sorted.length ? percentile(sorted, 99) : 0,
        callsWaitingOver1ms: sorted.filter((w) => w > 1).length,
        edgeStats: r.edgeStats,
        waitsMs: r.waits.map((w) => Math.round(w * 1000) / 1000), // in call order, the first call left out
      };
    });
    const rows = names.map((name) => {
      const r = results[name];
      const expired = `${r.expired}/${r.calls} expired${r.expired ? ` (≤ ${fmt.int(r.maxPastExpMs)} ms past exp)` : ''}`;
      const figure = `${expired}; max wait ${fmt.ms(r.waitMsMax)}; ${r.tokenRequests} token req.${r.errors ? `; ${r.errors} errors` : ''}`;
      const extra = {};
      if (name === 'edge') {
        extra.budget = '0 expired, no wait > 1 ms';
        extra.pass = r.expired === 0 && r.notJwt === 0 && r.errors === 0 && r.calls > 0 && r.waitMsMax <= 1;
      }
      return row(r.label, figure, extra);
    });
    return { rows, data: { ttlSeconds: ttl, intervalMs, durationMs, processPerCandidate: true, results } };
  } finally {
    for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await auth.close();
  }
});
