// 5. The Worker under load: autocannon (50 connections) on loopback against five Workers in
// workerd (Miniflare, one instance each, all up at once, each on its own 127.0.0.1 port):
//   - the edge-oauth Worker as built (build/index.js + build/index_bg.wasm);
//   - the same Worker as a gateway of four routes (ROUTES), each with its own client, the
//     load on one of them: what routing costs; and a second copy of the one-route Worker
//     (A/A), whose ratio to the first is the spread this machine gives two equal Workers;
//   - workers/forward.js: a plain JS Worker that only forwards (no token);
//   - workers/oauth4webapi.js: a plain JS Worker that attaches a cached oauth4webapi token.
// All three check the same proxy key and forward to the same origin: a node:http server that
// answers 200 with 16 bytes of application/octet-stream (nothing for workerd to compress;
// the load also sends Accept-Encoding: identity). The token Workers get their tokens from
// the bench oidc-provider (5-minute tokens: after the warm-up every request is a cache hit).
//
// Each Worker gets `seconds` (10) of load, split into `rounds` (5) runs; the runs are
// interleaved (A B C D E, then E D C B A, ...) so the five share the machine's noise. req/s counts
// 2xx answers over all of a Worker's runs, and latency percentiles are from their merged
// histograms; the ratio is the median of the per-round ratios (as in the cache section), which
// a burst of load from elsewhere on this shared machine moves less than a ratio of totals.

import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { BENCH, BUILD, ROOT, fmt, median, row, runSection } from '../lib/common.mjs';
import { startAuth, SCOPE } from '../lib/auth.mjs';
import { peerVersion } from '../lib/candidates.mjs';
import { startLoad } from '../lib/load-driver.mjs';

const PROXY_KEY = 'bench-proxy-key-5Tn8';
const COMPAT_DATE = '2026-07-01';

/** The origin: 200 with 16 binary bytes; counts requests with and without a bearer token. */
async function startOrigin() {
  const body = Buffer.alloc(16, 0x2a);
  const counts = { requests: 0, withToken: 0 };
  const server = http.createServer((req, res) => {
    counts.requests++;
    if (/^Bearer \S+$/.test(req.headers.authorization ?? '')) counts.withToken++;
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
    reset() {
      counts.requests = 0;
      counts.withToken = 0;
    },
    async close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** The pids of running workerd processes (Linux /proc; none elsewhere). */
function workerdPids() {
  if (!existsSync('/proc/self/stat')) return [];
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p) && comm(p) === 'workerd');
}

function comm(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** CPU time (user + system) the processes have used so far, in ms; NaN when unknown. */
function cpuMs(pids) {
  if (pids.length === 0) return NaN;
  let ticks = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15)
    } catch {
      return NaN;
    }
  }
  return ticks * 10; // USER_HZ is 100 on Linux
}


await runSection('worker', async (opts) => {
  const seconds = opts.seconds ?? 10;
  const rounds = opts.rounds ?? 5;
  const connections = opts.connections ?? 50;
  const warmupSeconds = opts.warmupSeconds ?? 1;
  const require = createRequire(join(ROOT, 'package.json'));
  const { Miniflare } = require('miniflare');
  const esbuild = require('esbuild');

  const tmp = mkdtempSync(join(tmpdir(), 'edge-oauth-bench-workers-'));
  const ROUTE_NAMES = ['a', 'b', 'c', 'bench'];
  const auth = await startAuth(['worker-edge', 'worker-edge-again', 'worker-oauth4webapi', ...ROUTE_NAMES.map((r) => `worker-route-${r}`)]);
  const origin = await startOrigin();
  const load = startLoad();
  const instances = [];
  try {
    // The JS Workers as wrangler would upload them: bundled (oauth4webapi included), ESM.
    for (const name of ['forward', 'oauth4webapi']) {
      await esbuild.build({
        entryPoints: [join(BENCH, 'workers', `${name}.js`)],
        bundle: true,
        format: 'esm',
        platform: 'browser',
        conditions: ['workerd', 'worker', 'browser'],
        target: 'es2022',
        outfile: join(tmp, `${name}.js`),
        logLevel: 'silent',
      });
    }
    const common = { PROXY_KEYS: PROXY_KEY, ORIGIN_URL: origin.url };
    const creds = (name) => {
      const c = auth.client(name);
      return { TOKEN_URL: auth.tokenUrl, CLIENT_ID: c.clientId, CLIENT_SECRET: c.clientSecret, SCOPE };
    };
    const targets = [
      {
        key: 'oauth4webapi',
        label: `JS Worker + oauth4webapi ${peerVersion('oauth4webapi')} token`,
        scriptPath: join(tmp, 'oauth4webapi.js'),
        bindings: { ...common, ...creds('worker-oauth4webapi'), ALLOW_INSECURE_HTTP: 'true' },
        token: true,
      },
      { key: 'forward', label: 'JS Worker, forward only (no token)', scriptPath: join(tmp, 'forward.js'), bindings: common, token: false },
      {
        key: 'edge',
        label: 'edge-oauth Worker (build/)',
        scriptPath: join(BUILD, 'index.js'),
        bindings: { ...common, ...creds('worker-edge') },
        token: true,
      },
      {
        key: 'edgeAgain',
        label: 'edge-oauth Worker (build/) again: A/A control',
        scriptPath: join(BUILD, 'index.js'),
        bindings: { ...common, ...creds('worker-edge-again') },
        token: true,
      },
      {
        key: 'edgeRoutes',
        label: 'edge-oauth Worker, four routes (ROUTES)',
        scriptPath: join(BUILD, 'index.js'),
        bindings: {
          PROXY_KEYS: PROXY_KEY,
          ROUTES: ROUTE_NAMES.map((r) => {
            const c = auth.client(`worker-route-${r}`);
            const secret = `ROUTE_${r.toUpperCase()}_SECRET`;
            return { prefix: `/${r}/`, keepPrefix: true, origin: origin.url, tokenUrl: auth.tokenUrl, clientId: c.clientId, clientSecret: { secret }, scope: SCOPE };
          }),
          ...Object.fromEntries(ROUTE_NAMES.map((r) => [`ROUTE_${r.toUpperCase()}_SECRET`, auth.client(`worker-route-${r}`).clientSecret])),
        },
        token: true,
      },
    ];
    for (const t of targets) {
      const before = new Set(workerdPids());
      const mf = new Miniflare({
        name: `bench-${t.key}`,
        modules: true,
        scriptPath: t.scriptPath,
        modulesRoot: dirname(t.scriptPath),
        modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }],
        compatibilityDate: COMPAT_DATE,
        bindings: t.bindings,
        host: '127.0.0.1',
        port: 0,
        cf: false,
      });
      instances.push(mf);
      t.url = new URL('/bench/item', await mf.ready).href;
      t.pids = workerdPids().filter((p) => !before.has(p));
    }
    await load.ready;

    // Sanity: each Worker answers 200 through the origin, with a bearer token when it should.
    const headers = { 'proxy-authorization': `Bearer ${PROXY_KEY}`, 'accept-encoding': 'identity' };
    for (const t of targets) {
      origin.reset();
      const res = await fetch(t.url, { headers });
      const text = await res.arrayBuffer();
      if (res.status !== 200 || text.byteLength !== 16) throw new Error(`${t.label}: answered ${res.status} (${text.byteLength} B)`);
      if (origin.counts.withToken !== (t.token ? 1 : 0)) throw new Error(`${t.label}: the origin saw ${origin.counts.withToken} bearer tokens`);
    }

    for (const t of targets) await load.run({ target: `warmup-${t.key}`, url: t.url, connections, seconds: warmupSeconds, headers });
    await auth.reset();
    origin.reset();
    const per = seconds / rounds;
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? targets : [...targets].reverse();
      for (const t of order) {
        const before = origin.counts.withToken;
        const cpuBefore = cpuMs(t.pids);
        const run = await load.run({ target: t.key, url: t.url, connections, seconds: per, headers });
        t.cpuMs = (t.cpuMs ?? 0) + cpuMs(t.pids) - cpuBefore;
        t.requests = (t.requests ?? 0) + run.requests;
        t.tokensSeen = (t.tokensSeen ?? 0) + origin.counts.withToken - before;
        (t.perRound ??= []).push(run.twoxx / run.seconds);
      }
    }
    const ref0 = targets.find((t) => t.key === 'oauth4webapi');
    const medianRatio = (t) => median(t.perRound.map((reqPerSec, r) => reqPerSec / ref0.perRound[r]));
    const agg = await load.aggregate();
    const tokenRequests = (await auth.counts()).byClient;

    const ref = agg.oauth4webapi;
    const results = {};
    const rows = targets.map((t) => {
      const a = agg[t.key];
      const cpuUsPerRequest = (t.cpuMs * 1000) / t.requests;
      results[t.key] = { label: t.label, ...a, reqPerSecPerRound: t.perRound, ratioMedianOfRounds: medianRatio(t), originRequestsWithBearer: t.tokensSeen ?? 0, workerdCpuUsPerRequest: cpuUsPerRequest };
      if (t.key === 'edge') results[t.key].tokenRequestsDuringLoad = tokenRequests[auth.client('worker-edge').clientId] ?? 0;
      if (t.key === 'edgeRoutes') results[t.key].tokenRequestsDuringLoad = tokenRequests[auth.client('worker-route-bench').clientId] ?? 0;
      if (t.key === 'oauth4webapi') {
        results[t.key].tokenRequestsDuringLoad = tokenRequests[auth.client('worker-oauth4webapi').clientId] ?? 0;
      }
      const bad = a.errors + a.timeouts + a.non2xx;
      const cpu = Number.isFinite(cpuUsPerRequest) ? `, workerd CPU ${fmt.int(cpuUsPerRequest)} µs/req` : '';
      let figure = `${fmt.int(a.reqPerSec)} req/s, p50 ${a.p50} ms, p99 ${a.p99} ms${cpu}${bad ? `, ${fmt.int(bad)} errors/non-2xx` : ''}`;
      const extra = { ratio: medianRatio(t) };
      if (t.key === 'edge') {
        extra.budget = '≥ 1.0× oauth4webapi req/s, p99 ≤ its p99 + 2 ms';
        extra.pass = bad === 0 && extra.ratio >= 1 && a.p99 <= ref.p99 + 2;
      }
      if (t.key === 'edgeRoutes' || t.key === 'edgeAgain') {
        // Routing must cost no measurable throughput: compared with the one-route Worker as
        // its A/A copy is.
        const edge = targets.find((x) => x.key === 'edge');
        const toOneRoute = median(t.perRound.map((reqPerSec, r) => reqPerSec / edge.perRound[r]));
        results[t.key].ratioToOneRoute = toOneRoute;
        figure += `; ${toOneRoute.toFixed(2)}× the one-route Worker's req/s (median of rounds)`;
      }
      return row(t.label, figure, extra);
    });
    return {
      rows,
      data: { connections, secondsPerWorker: seconds, rounds, warmupSeconds, compatibilityDate: COMPAT_DATE, results, tokenRequestsDuringLoad: tokenRequests },
    };
  } finally {
    load.close();
    for (const mf of instances) await mf.dispose().catch(() => {});
    await origin.close();
    await auth.close();
    rmSync(tmp, { recursive: true, force: true });
  }
});
