// 1. Cache-hit getToken() throughput in Node. Each candidate first gets a token from the bench
// oidc-provider (5-minute tokens, so every timed call is a cache hit), is warmed up, then
// timed for `rounds` rounds of `calls` sequentially awaited calls. The candidates are
// interleaved within each round (in slices; the order rotates) so they share the machine's
// noise; the figure is the median ns/call over the rounds, the ratio the median of the
// per-round ratios to the baseline.

import { PKG, fmt, median, row, runSection } from '../lib/common.mjs';
import { startAuth } from '../lib/auth.mjs';
import { makeCandidates } from '../lib/candidates.mjs';

const NAMES = ['baseline', 'edge', 'badgateway', 'simple'];
const AsyncFunction = (async () => {}).constructor;

// One timing loop per candidate, each compiled from its own source so that no call site is
// shared between candidates (a shared one would go polymorphic and slow them all down).
const makeLoop = (name) =>
  new AsyncFunction('get', 'n', `/* ${name} */ for (let i = 0; i < n; i++) await get();`);

await runSection('cache', async (opts) => {
  const rounds = opts.rounds ?? 7;
  const calls = opts.calls ?? 1_000_000;
  const warmup = opts.warmup ?? 300_000;
  const slices = opts.slices ?? 10;
  const auth = await startAuth(NAMES);
  try {
    const edgeModule = await import(`${PKG}node.js`);
    const candidates = await makeCandidates(NAMES, auth, edgeModule);
    for (const c of candidates) {
      c.loop = makeLoop(c.name);
      c.token(await c.get()); // the one token request; every timed call after it is a hit
      c.samples = [];
    }
    const tokenRequests = (await auth.counts()).byClient;
    for (const c of candidates) await c.loop(c.get, warmup);

    // A round is `slices` slices of calls/slices calls per candidate, interleaved slice by
    // slice, so a burst of noise from the shared machine lands on every candidate alike.
    const perSlice = Math.ceil(calls / slices);
    for (let round = 0; round < rounds; round++) {
      const spent = new Map(candidates.map((c) => [c, 0n]));
      for (let slice = 0; slice < slices; slice++) {
        for (let k = 0; k < candidates.length; k++) {
          const c = candidates[(round + slice + k) % candidates.length];
          const start = process.hrtime.bigint();
          await c.loop(c.get, perSlice);
          spent.set(c, spent.get(c) + process.hrtime.bigint() - start);
        }
      }
      for (const c of candidates) c.samples.push(Number(spent.get(c)) / (perSlice * slices));
    }
    const after = (await auth.counts()).byClient;

    // ns/call: the median over rounds. Ratios: the median of the per-round ratios (each
    // round's candidates ran side by side), which drift of the machine's speed cancels out of.
    const ns = Object.fromEntries(candidates.map((c) => [c.name, median(c.samples)]));
    const byName = Object.fromEntries(candidates.map((c) => [c.name, c]));
    const pairedRatio = (a, b) => median(byName[a].samples.map((v, i) => v / byName[b].samples[i]));
    const ratios = Object.fromEntries(candidates.map((c) => [c.name, pairedRatio(c.name, 'baseline')]));
    const edgeToBadgateway = pairedRatio('edge', 'badgateway');
    const edgeStats = byName.edge.client.stats();
    const rows = candidates.map((c) => {
      const extra = { ratio: ratios[c.name] };
      let figure = fmt.ns(ns[c.name]);
      if (c.name === 'edge') {
        figure += ` (${fmt.ratio(edgeToBadgateway)} @badgateway)`;
        extra.budget = '≤ 1.25× baseline and ≤ 1.00× @badgateway';
        extra.pass = ratios.edge <= 1.25 && edgeToBadgateway <= 1;
      }
      return row(c.label, figure, extra);
    });
    return {
      rows,
      data: {
        rounds,
        callsPerRound: calls,
        warmupCalls: warmup,
        slicesPerRound: slices,
        medianNsPerCall: ns,
        ratioToBaseline: ratios,
        edgeToBadgateway,
        samplesNsPerCall: Object.fromEntries(candidates.map((c) => [c.name, c.samples])),
        tokenRequestsBeforeTiming: tokenRequests,
        tokenRequestsAfterTiming: after,
        edgeStats,
      },
    };
  } finally {
    await auth.close();
  }
});
