// 2. Cold single flight: `calls` (10,000) concurrent get() calls on a client that has no token
// yet, for edge-oauth and each peer. The figure is the number of token requests the server
// counted for that candidate's client id. oauth4webapi and openid-client have no cache, so
// each call is a token request; simple-oauth2's expired() idiom has no single flight either.
//
// Bounded: each candidate gets a fresh oidc-provider process, and at most `deadlineMs` of
// wall time; then the server process is stopped (so calls still waiting fail at once) and the
// count is what arrived by then, marked "≥". On loopback 10,000 requests take about 10 s.
// The fetch-based candidates get a fetch with at most `inFlight` (256) requests on the wire
// at once (lib/candidates.mjs boundedFetch): every call is still concurrent and still makes
// its own request, but 10,000 simultaneous connects would overflow the server's listen
// backlog and fail with connect timeouts and resets that say nothing about the library.
// simple-oauth2 keeps its own HTTP client (@hapi/wreck), which rides the backlog out.

import { PKG, fmt, row, runSection, sleep } from '../lib/common.mjs';
import { startAuth } from '../lib/auth.mjs';
import { boundedFetch, makeCandidates } from '../lib/candidates.mjs';

const NAMES = ['edge', 'badgateway', 'simple', 'oauth4webapi', 'openid'];

await runSection('cold', async (opts) => {
  const calls = opts.calls ?? 10_000;
  const deadlineMs = opts.deadlineMs ?? 20_000;
  const names = opts.names ?? NAMES;
  const inFlight = opts.inFlight ?? 256;
  const edgeModule = await import(`${PKG}node.js`);
  const results = {};

  for (const name of names) {
    const auth = await startAuth([name]);
    try {
      const [c] = await makeCandidates([name], auth, edgeModule, { fetch: boundedFetch(inFlight) });
      const clientId = auth.client(name).clientId;
      let answered = 0;
      let failed = 0;
      const errors = new Map();
      const tokens = new Set();
      const start = performance.now();
      const all = Promise.all(
        Array.from({ length: calls }, () =>
          c.get().then(
            (value) => {
              answered++;
              tokens.add(c.token(value));
            },
            (err) => {
              failed++;
              const key = String(err?.cause?.code ?? err?.code ?? err?.message ?? err).slice(0, 80);
              errors.set(key, (errors.get(key) ?? 0) + 1);
            },
          ),
        ),
      );
      const settled = await Promise.race([all.then(() => true), sleep(deadlineMs).then(() => false)]);
      const elapsedMs = performance.now() - start;
      const counts = await auth.counts();
      await auth.close();
      if (!settled) await Promise.race([all, sleep(10_000)]); // callers fail once the server is gone
      results[name] = {
        label: c.label,
        calls,
        tokenRequests: counts.byClient[clientId] ?? 0,
        complete: settled,
        answered,
        failed,
        errors: Object.fromEntries(errors),
        distinctTokens: tokens.size,
        wallMs: elapsedMs,
        edgeStats: c.client?.stats(),
      };
    } finally {
      await auth.close();
    }
  }

  const edgeCount = results.edge?.tokenRequests;
  const rows = Object.entries(results).map(([name, r]) => {
    const count = `${r.complete ? '' : '≥ '}${fmt.int(r.tokenRequests)} request${r.tokenRequests === 1 ? '' : 's'}`;
    const how = r.complete
      ? `all answered in ${fmt.ms(r.wallMs)}${r.failed ? `, ${fmt.int(r.failed)} failed` : ''}`
      : `stopped at ${(deadlineMs / 1000).toFixed(0)} s, ${fmt.int(r.answered)} answered`;
    const extra = { ratio: edgeCount ? r.tokenRequests / edgeCount : undefined };
    if (name === 'edge') {
      extra.budget = `${fmt.int(calls)} cold calls → exactly 1 request`;
      extra.pass = r.complete && r.tokenRequests === 1 && r.failed === 0 && r.distinctTokens === 1;
    }
    return row(r.label, `${count} (${how})`, extra);
  });
  return { rows, data: { calls, deadlineMs, fetchInFlightLimit: inFlight, results } };
});
