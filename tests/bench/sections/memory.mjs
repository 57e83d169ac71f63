// 6. Memory (run with node --expose-gc): the JS heap (process.memoryUsage().heapUsed after
// gc) and the wasm linear memory (memory.buffer.byteLength of the package's wasm instance)
// before and after `hits` (1,000,000) cache hits, and before and after `refreshes` (10,000)
// forced refresh cycles. The token endpoint is a custom `fetch` returning a canned token
// Response, so the figures measure the client, not the network. A warm-up (10,000 hits and
// 500 refreshes) runs first, so one-time allocations are not counted as growth.
//
// The wasm exports (with `memory`) come from initSync() of pkg/edge_oauth.js, called before
// pkg/client.js is imported: client.js imports the same module instance.

import { readFileSync } from 'node:fs';
import { PKG, fmt, row, runSection, sleep } from '../lib/common.mjs';

const HEAP_FLAT = 1024 * 1024; // "flat within noise": under 1 MiB of JS heap growth
const WASM_FLAT = 64 * 1024; //   and at most one 64 KiB wasm page
const mib = (bytes) => (bytes / 2 ** 20).toFixed(2);

async function settle() {
  // Collect, let FinalizationRegistry callbacks (which free wasm-side objects) run, collect again.
  for (let i = 0; i < 3; i++) {
    global.gc();
    await sleep(20);
  }
  global.gc();
}

await runSection('memory', async (opts) => {
  if (typeof global.gc !== 'function') throw new Error('run with node --expose-gc');
  const hits = opts.hits ?? 1_000_000;
  const refreshes = opts.refreshes ?? 10_000;

  const glue = await import(`${PKG}edge_oauth.js`);
  const wasm = glue.initSync({ module: readFileSync(`${PKG}edge_oauth_bg.wasm`) });
  const { TokenClient } = await import(`${PKG}client.js`);

  let issued = 0;
  const cannedFetch = async () => {
    issued++;
    return new Response(
      JSON.stringify({ access_token: `bench-token-${issued}-${'x'.repeat(600)}`, token_type: 'Bearer', expires_in: 3600, scope: 'api:read' }),
      { status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' } },
    );
  };
  const client = new TokenClient({
    tokenUrl: 'https://auth.bench.invalid/token',
    clientId: 'bench-memory',
    clientSecret: 'bench-memory-secret',
    scope: 'api:read',
    fetch: cannedFetch,
  });

  const snapshot = async () => {
    await settle();
    return { heapUsed: process.memoryUsage().heapUsed, wasmMemory: wasm.memory.buffer.byteLength };
  };

  await client.getToken();
  for (let i = 0; i < 10_000; i++) await client.getToken();
  for (let i = 0; i < 500; i++) await client.getToken({ forceRefresh: true });

  const hitsBefore = await snapshot();
  for (let i = 0; i < hits; i++) await client.getToken();
  const hitsAfter = await snapshot();

  const refreshBefore = await snapshot();
  for (let i = 0; i < refreshes; i++) await client.getToken({ forceRefresh: true });
  const refreshAfter = await snapshot();

  const stats = client.stats();
  const phase = (label, before, after, count) => {
    const heap = after.heapUsed - before.heapUsed;
    const wasmGrowth = after.wasmMemory - before.wasmMemory;
    return {
      result: { count, before, after, heapGrowth: heap, wasmGrowth },
      row: row(
        `edge-oauth after ${label}`,
        `heap ${mib(before.heapUsed)} → ${mib(after.heapUsed)} MiB (${heap >= 0 ? '+' : ''}${fmt.int(heap / 1024)} KiB); ` +
          `wasm ${mib(before.wasmMemory)} → ${mib(after.wasmMemory)} MiB (+${fmt.int(wasmGrowth / 1024)} KiB)`,
        { budget: 'flat: heap < +1 MiB, wasm ≤ +64 KiB', pass: heap < HEAP_FLAT && wasmGrowth <= WASM_FLAT },
      ),
    };
  };
  const a = phase(`${fmt.int(hits)} cache hits`, hitsBefore, hitsAfter, hits);
  const b = phase(`${fmt.int(refreshes)} refreshes`, refreshBefore, refreshAfter, refreshes);
  return {
    rows: [a.row, b.row],
    data: { cacheHits: a.result, refreshCycles: b.result, stats, cannedTokenResponses: issued },
  };
});
