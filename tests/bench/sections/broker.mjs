// 8. The token broker (TOKEN_BROKER): N isolates — N instances of the edge-oauth Worker in one
// workerd, one isolate each, sharing one Durable Object namespace — with and without the
// broker, against oidc-provider issuing 6-second JWTs (5-second tokens to the client),
// renewed 1 s ahead. Each isolate gets one request every 250 ms for `seconds` (12).
//   - token requests per token lifetime: what the token endpoint counted, over the
//     lifetimes the run spans;
//   - the cold path's token time: the `Server-Timing` duration of the requests that had no
//     fresh token in the isolate ("fetch"): with the broker, a broker lookup (one per isolate
//     per lifetime); without, the isolate's own first token request; p50 and p99.
// Budget: with the broker, N isolates make no more token requests than one isolate alone
// (+1 for the timing of the run's end).

import { COMPATIBILITY_DATE } from '../../support/worker-harness.mjs';
import { CLIENTS, startAuthServer } from '../../support/auth-server.mjs';
import { startEchoOrigin } from '../../support/echo-origin.mjs';
import { startFleet } from '../../support/worker-harness.mjs';
import { fmt, row, runSection, sleep } from '../lib/common.mjs';

const KEY = 'bench-broker-key-Pd31';
const LIFETIME_S = 5;

const percentile = (values, p) => {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};

await runSection('broker', async (opts) => {
  const seconds = opts.seconds ?? 12;
  const sizes = opts.isolates ?? [1, 8, 64];
  const auth = await startAuthServer({ accessTokenTtl: LIFETIME_S + 1 });
  const origin = await startEchoOrigin();
  const results = {};
  const rows = [];
  try {
    for (const isolates of sizes) {
      for (const withBroker of [false, true]) {
        const f = await startFleet({
          count: isolates,
          build: false,
          broker: withBroker ? undefined : false,
          bindings: {
            ORIGIN_URL: origin.url,
            TOKEN_URL: auth.tokenUrl,
            CLIENT_ID: CLIENTS.post.clientId,
            CLIENT_SECRET: CLIENTS.post.clientSecret,
            AUTH_METHOD: 'client_secret_post',
            PROXY_KEYS: KEY,
            REFRESH_AHEAD_SECONDS: '1',
            EXPIRY_MARGIN_SECONDS: '0.5',
          },
        });
        try {
          const before = auth.tokenRequests;
          const coldMs = [];
          let errors = 0;
          const started = Date.now();
          while (Date.now() < started + seconds * 1000) {
            const round = await Promise.all(Array.from({ length: isolates }, async (_, i) => {
              const res = await f.fetch(i, '/bench', { headers: { 'proxy-authorization': `Bearer ${KEY}` } });
              await res.arrayBuffer();
              return res;
            }));
            for (const res of round) {
              if (res.status !== 200) errors++;
              const timing = /dur=([\d.]+);desc="fetch"/.exec(res.headers.get('server-timing') ?? '');
              if (timing) coldMs.push(Number(timing[1]));
            }
            await sleep(250);
          }
          const elapsedS = (Date.now() - started) / 1000;
          const tokenRequests = auth.tokenRequests - before;
          const perLifetime = tokenRequests / (elapsedS / LIFETIME_S);
          const key = `${isolates}-${withBroker ? 'broker' : 'alone'}`;
          results[key] = {
            isolates,
            broker: withBroker,
            tokenRequests,
            elapsedS,
            perLifetime,
            coldP50Ms: percentile(coldMs, 50),
            coldP99Ms: percentile(coldMs, 99),
            coldSamples: coldMs.length,
            errors,
          };
          const r = results[key];
          const label = `${isolates} isolate${isolates > 1 ? 's' : ''}, ${withBroker ? 'with the broker' : 'no broker'}`;
          const what = withBroker ? 'broker lookup' : 'own token request';
          let figure = `${fmt.int(tokenRequests)} token requests in ${elapsedS.toFixed(0)} s (${perLifetime.toFixed(1)} per lifetime); ${what} p50 ${r.coldP50Ms} ms, p99 ${r.coldP99Ms} ms (${r.coldSamples} cold requests)`;
          if (errors) figure += `; ${errors} non-200`;
          const one = results['1-alone'];
          const extra = withBroker && one
            ? { budget: `≤ ${one.tokenRequests + 1} (1 isolate alone, +1)`, pass: tokenRequests <= one.tokenRequests + 1 && errors === 0 }
            : {};
          rows.push(row(label, figure, extra));
        } finally {
          await f.dispose();
        }
      }
    }
    return { rows, data: { seconds, lifetimeS: LIFETIME_S, compatibilityDate: COMPATIBILITY_DATE, results } };
  } finally {
    await origin.close();
    await auth.close();
  }
});
