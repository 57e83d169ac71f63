// 3. Expiry correctness: 5-second tokens, every candidate polled every 100 ms for 12 s, all
// in the same window against one oidc-provider (one client id each, counted per client).
// Each candidate has its own timer, staggered across the 100 ms, so one candidate's work never
// runs inside another's timed call. For every call: the token's JWT `exp` against Date.now()
// at receipt (a token at or past `exp` counts as expired), and how long the caller waited
// (performance.now() around the await). The very first, cold call is left out of the waits.

import { PKG, fmt, median, row, runSection, sleep } from '../lib/common.mjs';
import { startAuth } from '../lib/auth.mjs';
import { jwtExp, makeCandidates } from '../lib/candidates.mjs';

const NAMES = ['edge', 'baseline', 'badgateway', 'simple', 'oauth4webapi', 'openid'];

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

await runSection('expiry', async (opts) => {
  const ttl = opts.ttlSeconds ?? 5;
  const intervalMs = opts.intervalMs ?? 100;
  const durationMs = opts.durationMs ?? 12_000;
  const names = opts.names ?? NAMES;
  const auth = await startAuth(names);
  try {
    await auth.setTtl(ttl);
    const edgeModule = await import(`${PKG}node.js`);
    const candidates = await makeCandidates(names, auth, edgeModule);
    for (const c of candidates) {
      Object.assign(c, { calls: 0, expired: 0, noExp: 0, errors: 0, maxPastExpMs: 0, waits: [], first: true, inflight: new Set() });
    }

    async function poll(c) {
      const first = c.first;
      c.first = false;
      const start = performance.now();
      let value;
      try {
        value = await c.get();
      } catch {
        c.errors++;
        return;
      }
      const waited = performance.now() - start;
      const now = Date.now();
      c.calls++;
      const exp = jwtExp(c.token(value));
      if (exp === undefined) c.noExp++;
      else if (now >= exp * 1000) {
        c.expired++;
        c.maxPastExpMs = Math.max(c.maxPastExpMs, now - exp * 1000);
      }
      if (!first) c.waits.push(waited);
    }

    const timers = [];
    const startAll = Date.now();
    await Promise.all(
      candidates.map(async (c, i) => {
        await sleep((i * intervalMs) / candidates.length);
        const tick = () => {
          const p = poll(c);
          c.inflight.add(p);
          p.finally(() => c.inflight.delete(p));
        };
        tick();
        timers.push(setInterval(tick, intervalMs));
      }),
    );
    await sleep(Math.max(0, durationMs - (Date.now() - startAll)));
    for (const t of timers) clearInterval(t);
    await Promise.all(candidates.flatMap((c) => [...c.inflight]));
    const counts = (await auth.counts()).byClient;

    const results = {};
    for (const c of candidates) {
      const sorted = [...c.waits].sort((a, b) => a - b);
      results[c.name] = {
        label: c.label,
        calls: c.calls,
        errors: c.errors,
        expired: c.expired,
        notJwt: c.noExp,
        maxPastExpMs: c.maxPastExpMs,
        tokenRequests: counts[auth.client(c.name).clientId] ?? 0,
        waitMsMax: sorted.at(-1) ?? 0,
        waitMsP50: sorted.length ? median(sorted) : 0,
        waitMsP99: sorted.length ? percentile(sorted, 99) : 0,
        callsWaitingOver1ms: sorted.filter((w) => w > 1).length,
        edgeStats: c.client?.stats(),
      };
    }
    const rows = candidates.map((c) => {
      const r = results[c.name];
      const expired = `${r.expired}/${r.calls} expired${r.expired ? ` (≤ ${fmt.int(r.maxPastExpMs)} ms past exp)` : ''}`;
      const figure = `${expired}; max wait ${fmt.ms(r.waitMsMax)}; ${r.tokenRequests} token req.${r.errors ? `; ${r.errors} errors` : ''}`;
      const extra = {};
      if (c.name === 'edge') {
        extra.budget = '0 expired, no wait > 1 ms';
        extra.pass = r.expired === 0 && r.notJwt === 0 && r.errors === 0 && r.calls > 0 && r.waitMsMax <= 1;
      }
      return row(c.label, figure, extra);
    });
    return { rows, data: { ttlSeconds: ttl, intervalMs, durationMs, results } };
  } finally {
    await auth.close();
  }
});
