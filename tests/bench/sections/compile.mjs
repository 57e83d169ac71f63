// 4b. wasm compile + instantiate time in Node: the median of `processes` (20) fresh
// processes, each timing the package's initSync({ module: bytes }) once (lib/compile-once.mjs).

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { fmt, median, row, runSection } from '../lib/common.mjs';

const ONCE = fileURLToPath(new URL('../lib/compile-once.mjs', import.meta.url));
const run = promisify(execFile);

await runSection('compile', async (opts) => {
  const processes = opts.processes ?? 20;
  const samples = [];
  const asyncSamples = [];
  for (let i = 0; i < processes; i++) {
    const { stdout } = await run(process.execPath, [ONCE], { timeout: 30_000 });
    const { ms, asyncMs } = JSON.parse(stdout.trim().split('\n').at(-1));
    samples.push(ms);
    asyncSamples.push(asyncMs);
  }
  const med = median(samples);
  return {
    rows: [
      row('edge-oauth wasm initSync (compile + instantiate)', `${fmt.ms(med)} median of ${processes} processes (min ${fmt.ms(Math.min(...samples))}, max ${fmt.ms(Math.max(...samples))})`, {
        budget: '≤ 5 ms median',
        pass: med <= 5,
      }),
    ],
    data: { processes, initSyncMs: samples, medianMs: med, asyncCompileMs: asyncSamples, asyncCompileMedianMs: median(asyncSamples) },
  };
});
