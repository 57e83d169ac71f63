// Small helpers shared by the sections: paths, statistics, formatting and the section runner.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BENCH = fileURLToPath(new URL('../', import.meta.url));
export const PKG = `${ROOT}pkg/`;
export const BUILD = `${ROOT}build/`;

export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const fmtInt = (n) => Math.round(n).toLocaleString('en-US');

export const fmt = {
  int: fmtInt,
  ns: (n) => `${n.toFixed(1)} ns/call`,
  ms: (n) => (n >= 1000 ? `${(n / 1000).toFixed(1)} s` : `${n < 10 ? n.toFixed(2) : n.toFixed(1)} ms`),
  bytes: (n) => `${(n / 1024).toFixed(1)} KiB`,
  ratio: (n) => (Number.isFinite(n) ? `${n >= 100 ? fmtInt(n) : n.toFixed(2)}×` : '–'),
};

/** A result row: one figure of one candidate, with its budget verdict when it has one. */
export function row(candidate, figure, extra = {}) {
  return { candidate, figure, ratio: undefined, budget: undefined, pass: undefined, ...extra };
}

/**
 * Runs a section's main function: `node sections/x.mjs --out FILE [--opts JSON]`; writes
 * `{ rows, data }` to FILE (its directory made when missing). Exits non-zero (with the error on stderr) when the section throws.
 */
export async function runSection(name, main) {
  const { values } = parseArgs({ options: { out: { type: 'string' }, opts: { type: 'string', default: '{}' } } });
  const opts = JSON.parse(values.opts);
  try {
    const result = await main(opts);
    const text = JSON.stringify({ section: name, ...result }, null, 2);
    if (values.out) {
      const out = resolve(values.out); // relative to the working directory
      mkdirSync(dirname(out), { recursive: true }); // e.g. results/, which is not committed
      writeFileSync(out, text);
    }
    else process.stdout.write(`${text}\n`);
    process.exit(0);
  } catch (err) {
    console.error(`${name}: ${err?.stack ?? err}`);
    process.exit(1);
  }
}
