// The load generator of the Worker benchmark, in a process of its own (forked by
// sections/worker.mjs and sections/soak.mjs): autocannon against one URL per command, over IPC.
//   { cmd: 'run', target, url, connections, seconds, headers }  one bounded run; its raw
//       result (encoded histograms) is kept per target; answers a short summary (with the
//       count of answers per HTTP status, which sections/soak.mjs reports);
//   { cmd: 'aggregate' }  merges each target's runs (autocannon.aggregateResult) and answers
//       { target: { requests2xx, seconds, reqPerSec, p50, p99, p999, max, errors, timeouts, non2xx } }.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const autocannon = require('autocannon');
const runs = new Map();

function once(opts) {
  return new Promise((resolve, reject) => {
    const instance = autocannon(opts, (err, result) => (err ? reject(err) : resolve(result)));
    // Bounded even if the target hangs: stop a few seconds after the planned duration.
    const guard = setTimeout(() => instance.stop(), (opts.duration + 5) * 1000);
    instance.on('done', () => clearTimeout(guard));
  });
}

process.on('message', async ({ id, cmd, ...arg }) => {
  try {
    if (cmd === 'run') {
      const raw = await once({
        url: arg.url,
        connections: arg.connections,
        duration: arg.seconds,
        headers: arg.headers,
        timeout: 10,
        skipAggregateResult: true,
      });
      if (!runs.has(arg.target)) runs.set(arg.target, []);
      runs.get(arg.target).push({ raw, url: arg.url, connections: arg.connections });
      const statusCodes = Object.fromEntries(Object.entries(raw.statusCodeStats ?? {}).map(([code, s]) => [code, s.count]));
      process.send({
        id,
        result: { requests: raw.totalCompletedRequests, seconds: raw.duration, twoxx: raw['2xx'], errors: raw.errors, timeouts: raw.timeouts, non2xx: raw.non2xx, statusCodes },
      });
    } else if (cmd === 'aggregate') {
      const out = {};
      for (const [target, list] of runs) {
        const merged = autocannon.aggregateResult(list.map((r) => r.raw), { url: list[0].url, connections: list[0].connections });
        const seconds = list.reduce((s, r) => s + r.raw.duration, 0);
        const ok = list.reduce((s, r) => s + r.raw['2xx'], 0);
        out[target] = {
          runs: list.length,
          seconds,
          requests: merged.requests.total,
          requests2xx: ok,
          reqPerSec: ok / seconds,
          p50: merged.latency.p50,
          p90: merged.latency.p90,
          p99: merged.latency.p99,
          p999: merged.latency.p99_9,
          max: merged.latency.max,
          mean: merged.latency.average,
          errors: merged.errors,
          timeouts: merged.timeouts,
          non2xx: merged.non2xx,
        };
      }
      process.send({ id, result: out });
    } else {
      throw new Error(`unknown command ${cmd}`);
    }
  } catch (err) {
    process.send({ id, error: String(err?.stack ?? err) });
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ ready: true });
