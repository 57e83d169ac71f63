// 7. Soak: the edge-oauth Worker (build/) under load while its IdP flaps (issue 10). autocannon
// (lib/load.mjs, its own process) sends `connections` (50) connections' worth of requests for
// `seconds` (30) to the Worker in workerd (Miniflare, on 127.0.0.1, the same proxy key as the
// worker section), which forwards them to an origin here (200 with 16 binary bytes, as in the
// worker section). The Worker gets its tokens from a small token server of this section, in
// this process with the origin, which cycles through `phases` from the moment the load starts:
//   healthy  200 with a JWT-shaped token (`tokenSeconds`, 6, of life): iat = now rounded down
//            to the second, exp = iat + tokenSeconds, expires_in = tokenSeconds (as
//            oidc-provider and Keycloak issue them; unsigned: clients do not verify them);
//            every token issued is recorded with its expiry, exp × 1000;
//   429      429 + `Retry-After: 2`, {"error":"temporarily_unavailable"};
//   500      500, {"error":"server_error"};
//   hang     reads the request and never answers (the connection stays open until the
//            Worker gives up on it or the section ends);
// 3 s each by default, repeated (30 s: healthy, 429, 500, hang, twice, then healthy, 429).
// Every answer is JSON with a Content-Length, as oidc-provider's.
// The Worker runs with TIMEOUT_MS 1000 and MAX_WAIT_MS 2000 (`vars` adds or overrides), so that
// a hanging IdP does not hold callers (a build without MAX_WAIT_MS ignores that var).
//
// The origin records every request: with no bearer token, with a token the IdP never issued,
// or with one of its tokens that had already expired when the request arrived (Date.now() at
// or past its exp; both servers are in this process, on one clock). Reported: answers by
// HTTP status (autocannon), answers/s and latency, the token requests the IdP saw (by phase),
// and two budgets, measured, not asserted: origin requests without a token the IdP issued = 0,
// expired tokens forwarded = 0. Requests left unanswered for autocannon's 10 s count as
// timeouts, not as answers. The section takes a little over 30 s.

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { BUILD, ROOT, fmt, row, runSection, sleep } from '../lib/common.mjs';
import { startLoad } from '../lib/load-driver.mjs';

const PROXY_KEY = 'bench-proxy-key-5Tn8'; // the worker section's
const COMPAT_DATE = '2026-07-01';
const CLIENT_ID = 'bench-soak';
const CLIENT_SECRET = 'bench-soak-secret-7Qd2';
const SCOPE = 'api:read';
const PHASES = [
  ['healthy', 3],
  ['429', 3],
  ['500', 3],
  ['hang', 3],
];
const PHASE_LABELS = { healthy: 'healthy', 429: '429', 500: '500', hang: 'hanging' };

/** The IdP's phase over time: `healthy` until start(), then `phases` in a loop. */
function flapClock(phases) {
  const cycleMs = phases.reduce((sum, [, s]) => sum + s * 1000, 0);
  let t0;
  return {
    start() {
      t0 = performance.now();
      this.startedAt = Date.now();
    },
    /** ms since start(), or undefined before. */
    elapsed: () => (t0 === undefined ? undefined : performance.now() - t0),
    phase() {
      if (t0 === undefined) return 'healthy';
      let t = (performance.now() - t0) % cycleMs;
      for (const [name, s] of phases) {
        if (t < s * 1000) return name;
        t -= s * 1000;
      }
      return phases[0][0];
    },
  };
}

const b64json = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
const zeroByPhase = (phases) => Object.fromEntries(phases.map(([name]) => [name, 0]));

/** The flapping token server: POST /token, client_secret_basic, client_credentials. */
async function startIdp(clock, phases, tokenSeconds) {
  const issued = new Map(); // access token -> { n, issuedAtMs, expiresAtMs, uses, expiredUses }
  const expected = `Basic ${Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64')}`;
  const stats = {};
  const reset = () =>
    Object.assign(stats, { requests: 0, byPhase: zeroByPhase(phases), refused: 0, tokensIssued: 0, inFlight: 0, maxInFlight: 0, timeline: [] });
  reset();
  let issuedSeq = 0;
  const server = http.createServer((req, res) => {
    const phase = clock.phase();
    stats.requests++;
    stats.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    res.once('close', () => stats.inFlight--); // answered, or the connection went away
    const entry = { atMs: Math.round(clock.elapsed() ?? -1), phase };
    if (stats.timeline.length < 2000) stats.timeline.push(entry); // in the JSON; bounded
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const json = (status, body, headers = {}) => {
        const text = Buffer.from(JSON.stringify(body));
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': text.length, 'cache-control': 'no-store', ...headers });
        res.end(text);
      };
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      if (req.method !== 'POST' || req.url !== '/token' || req.headers.authorization !== expected || form.get('grant_type') !== 'client_credentials') {
        stats.refused++;
        entry.outcome = 'refused';
        return json(401, { error: 'invalid_client' }, { 'www-authenticate': 'Basic realm="soak"' });
      }
      stats.byPhase[phase]++;
      entry.outcome = phase;
      if (phase === 'healthy') {
        const now = Date.now();
        const iat = Math.floor(now / 1000);
        const exp = iat + tokenSeconds;
        const claims = { iss: `http://127.0.0.1:${server.address().port}`, sub: CLIENT_ID, client_id: CLIENT_ID, scope: SCOPE, iat, exp, jti: randomBytes(9).toString('base64url') };
        const token = `${b64json({ alg: 'HS256', typ: 'at+jwt' })}.${b64json(claims)}.${randomBytes(32).toString('base64url')}`;
        stats.tokensIssued++;
        issued.set(token, { n: ++issuedSeq, issuedAtMs: now, expiresAtMs: exp * 1000, uses: 0, expiredUses: 0 });
        return json(200, { access_token: token, token_type: 'Bearer', expires_in: tokenSeconds, scope: SCOPE });
      }
      if (phase === '429') return json(429, { error: 'temporarily_unavailable' }, { 'retry-after': '2' });
      if (phase === '500') return json(500, { error: 'server_error' });
      // hang: never answers
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    tokenUrl: `http://127.0.0.1:${server.address().port}/token`,
    issued,
    stats,
    reset,
    async close() {
      server.closeAllConnections(); // the hung requests too
      server.close();
    },
  };
}

/** The origin: 200 with 16 binary bytes; judges the bearer token of every request. */
async function startOrigin(clock, phases, issued) {
  const body = Buffer.alloc(16, 0x2a);
  const counts = {};
  const reset = () =>
    Object.assign(counts, {
      requests: 0,
      withoutToken: 0,
      unknownToken: 0,
      expired: 0,
      expiredPastLifetime: 0,
      maxPastExpMs: 0,
      minLeftMs: Infinity,
      byPhase: zeroByPhase(phases),
      perSecond: [],
    });
  reset();
  let tokenSeconds;
  const server = http.createServer((req, res) => {
    const now = Date.now();
    counts.requests++;
    counts.byPhase[clock.phase()]++;
    const elapsed = clock.elapsed();
    if (elapsed !== undefined) {
      const s = Math.floor(elapsed / 1000);
      counts.perSecond[s] = (counts.perSecond[s] ?? 0) + 1;
    }
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    if (!bearer) counts.withoutToken++;
    else {
      const token = issued.get(bearer[1]);
      if (!token) counts.unknownToken++;
      else {
        token.uses++;
        if (now >= token.expiresAtMs) {
          token.expiredUses++;
          counts.expired++;
          counts.maxPastExpMs = Math.max(counts.maxPastExpMs, now - token.expiresAtMs);
          // Past even the exact lifetime from the moment of issue (exp is rounded down)?
          if (now >= token.issuedAtMs + tokenSeconds * 1000) counts.expiredPastLifetime++;
        } else counts.minLeftMs = Math.min(counts.minLeftMs, token.expiresAtMs - now);
      }
    }
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 30_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    counts,
    reset,
    setTokenSeconds: (s) => (tokenSeconds = s),
    async close() {
      server.closeAllConnections();
      server.close();
    },
  };
}


await runSection('soak', async (opts) => {
  const seconds = opts.seconds ?? 30;
  const connections = opts.connections ?? 50;
  const phases = opts.phases ?? PHASES;
  const tokenSeconds = opts.tokenSeconds ?? 6;
  const drainMs = opts.drainMs ?? 500;
  const vars = { TIMEOUT_MS: '1000', MAX_WAIT_MS: '2000', ...(opts.vars ?? {}) };
  for (const [name] of phases) if (!(name in PHASE_LABELS)) throw new Error(`unknown phase ${name} (${Object.keys(PHASE_LABELS).join(', ')})`);
  const require = createRequire(join(ROOT, 'package.json'));
  const { Miniflare } = require('miniflare');

  const clock = flapClock(phases);
  const idp = await startIdp(clock, phases, tokenSeconds);
  const origin = await startOrigin(clock, phases, idp.issued);
  origin.setTokenSeconds(tokenSeconds);
  const load = startLoad();
  let mf;
  try {
    mf = new Miniflare({
      name: 'bench-soak',
      modules: true,
      scriptPath: join(BUILD, 'index.js'),
      modulesRoot: BUILD,
      modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }],
      compatibilityDate: COMPAT_DATE,
      bindings: { PROXY_KEYS: PROXY_KEY, ORIGIN_URL: origin.url, TOKEN_URL: idp.tokenUrl, CLIENT_ID, CLIENT_SECRET, SCOPE, ...vars },
      host: '127.0.0.1',
      port: 0,
      cf: false,
    });
    const url = new URL('/bench/item', await mf.ready).href;
    await load.ready;

    // Sanity, with the IdP healthy: 200 through the origin, with a token the IdP issued.
    const headers = { 'proxy-authorization': `Bearer ${PROXY_KEY}`, 'accept-encoding': 'identity' };
    const res = await fetch(url, { headers });
    const bytes = await res.arrayBuffer();
    if (res.status !== 200 || bytes.byteLength !== 16) {
      throw new Error(`the Worker answered ${res.status}: ${Buffer.from(bytes).toString('utf8').slice(0, 300)}`);
    }
    const sane = origin.counts.requests === 1 && origin.counts.withoutToken === 0 && origin.counts.unknownToken === 0;
    if (!sane || idp.stats.tokensIssued !== 1) throw new Error(`sanity: origin ${JSON.stringify(origin.counts)}, IdP ${JSON.stringify(idp.stats)}`);
    idp.reset();
    origin.reset(); // the Worker keeps the token it has: the load starts with a cached token

    clock.start();
    const run = await load.run({ target: 'soak', url, connections, seconds, headers });
    await sleep(drainMs); // requests the Worker was still forwarding when the load stopped
    const loadMs = clock.elapsed();
    const [agg] = Object.values(await load.aggregate());
    const o = { ...origin.counts, perSecond: Array.from(origin.counts.perSecond, (n) => n ?? 0) };
    const t = { ...idp.stats, timeline: [...idp.stats.timeline] };
    const tokens = [...idp.issued.values()].map((k) => ({
      n: k.n,
      issuedAtMs: k.issuedAtMs - clock.startedAt, // from the start of the load
      expiresAtMs: k.expiresAtMs - clock.startedAt,
      uses: k.uses,
      expiredUses: k.expiredUses,
    }));

    const answered = Object.values(run.statusCodes).reduce((a, b) => a + b, 0);
    const statuses = Object.entries(run.statusCodes)
      .sort(([a], [b]) => Number(a) - Number(b))
      .map(([code, n]) => `${code} ×${fmt.int(n)}`)
      .join(', ');
    // autocannon counts a timeout (no answer in 10 s) as an error too
    const failures = [run.timeouts && `${fmt.int(run.timeouts)} timeouts (no answer in 10 s)`, run.errors - run.timeouts && `${fmt.int(run.errors - run.timeouts)} connection errors`].filter(Boolean);
    const loadFigure =
      `${fmt.int(answered / run.seconds)} answers/s (${fmt.int(run.twoxx / run.seconds)} 2xx/s): ${statuses || 'none'}; ` +
      `p50 ${agg.p50} ms, p99 ${agg.p99} ms, max ${fmt.int(agg.max)} ms${failures.length ? `; ${failures.join(', ')}` : ''}`;

    const byPhase = phases
      .filter(([name], i) => phases.findIndex(([n]) => n === name) === i)
      .map(([name]) => `${PHASE_LABELS[name]} ${fmt.int(t.byPhase[name])}`)
      .join(', ');
    const idpFigure =
      `${fmt.int(t.requests)}: ${byPhase}${t.refused ? `, refused ${fmt.int(t.refused)}` : ''}; ` +
      `${fmt.int(t.tokensIssued)} tokens issued; at most ${t.maxInFlight} in flight`;

    const noToken = o.withoutToken + o.unknownToken;
    const noTokenFigure = `${fmt.int(noToken)} of ${fmt.int(o.requests)} forwarded${o.unknownToken ? ` (${fmt.int(o.unknownToken)} with a token the IdP never issued)` : ''}`;
    const expiredFigure = o.expired
      ? `${fmt.int(o.expired)} of ${fmt.int(o.requests)} (≤ ${fmt.int(o.maxPastExpMs)} ms past exp; ${fmt.int(o.expiredPastLifetime)} also past issue + ${tokenSeconds} s)`
      : `0 of ${fmt.int(o.requests)}${Number.isFinite(o.minLeftMs) ? ` (closest: ${fmt.int(o.minLeftMs)} ms before exp)` : ''}`;

    const rows = [
      row('edge-oauth Worker (build/), IdP flapping', loadFigure),
      row('token requests the IdP saw', idpFigure),
      row('origin requests without a token', noTokenFigure, { budget: '0', pass: o.requests > 0 && noToken === 0 }),
      row('expired tokens forwarded', expiredFigure, { budget: '0', pass: o.requests > 0 && o.expired === 0 }),
    ];
    return {
      rows,
      data: {
        connections,
        seconds,
        loadSecondsMeasured: run.seconds,
        elapsedMsAtSnapshot: Math.round(loadMs),
        drainMs,
        phases,
        tokenSeconds,
        compatibilityDate: COMPAT_DATE,
        workerVars: vars,
        load: { answered, statusCodes: run.statusCodes, twoxx: run.twoxx, non2xx: run.non2xx, errors: run.errors, timeouts: run.timeouts, answersPerSec: answered / run.seconds, latency: agg },
        idp: { ...t, tokens },
        origin: { ...o, minLeftMs: Number.isFinite(o.minLeftMs) ? o.minLeftMs : null },
      },
    };
  } finally {
    load.close();
    await mf?.dispose().catch(() => {});
    await origin.close();
    await idp.close();
  }
});
