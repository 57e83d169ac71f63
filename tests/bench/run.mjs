#!/usr/bin/env node
// edge-oauth benchmark: `npm run bench` (builds pkg/ and build/ first), or, once built,
//   node tests/bench/run.mjs [--only=cache,cold,expiry,size,compile,worker,memory,soak,broker]
//
// Installs its own peers (tests/bench/package.json, pinned, with its own lock file) when
// they are missing, runs each section in a fresh process (bounded in time), prints ONE table
// with ratios and budget verdicts, and writes every figure as JSON under results/ (not
// committed). Budgets are measured and reported, not asserted: the exit code is non-zero only
// when a section could not run. Everything listens on 127.0.0.1 and stops by itself.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH, BUILD, PKG, ROOT, fmt } from './lib/common.mjs';

const SECTIONS = [
  {
    name: 'cache',
    title: '1. Cache-hit getToken() in Node: median ns/call of 7 rounds × 1,000,000 awaited calls (interleaved in slices); ratio: median per-round ratio to the hand-written baseline',
    needs: ['pkg'],
    limitS: 120,
  },
  {
    name: 'cold',
    title: '2. Cold single flight: 10,000 concurrent calls on a client with no token; token requests the server counted; ratio to edge-oauth',
    needs: ['pkg'],
    limitS: 150,
  },
  {
    name: 'expiry',
    title: '3. Expiry: 5-second tokens polled every 100 ms for 12 s, each candidate in its own process, same window; calls handed a token at/past its JWT exp, longest wait after the first (cold) call',
    needs: ['pkg'],
    limitS: 60,
  },
  {
    name: 'size',
    title: '4. Size, gzip -9 (each file, summed); JS bundled and minified with esbuild, as for the peers; ratio to edge-oauth npm wasm + JS',
    needs: ['pkg', 'build'],
    limitS: 150,
  },
  {
    name: 'compile',
    title: '4. wasm compile + instantiate in Node (initSync), fresh processes',
    needs: ['pkg'],
    limitS: 90,
  },
  {
    name: 'worker',
    title: '5. Worker under load in workerd: autocannon, 50 connections, 10 s per Worker (5 interleaved rounds); ratio: median per-round ratio of req/s to the oauth4webapi JS Worker',
    needs: ['build'],
    limitS: 150,
  },
  {
    name: 'memory',
    title: '6. Memory: JS heap after gc and wasm memory, before → after',
    needs: ['pkg'],
    limitS: 90,
    nodeFlags: ['--expose-gc'],
  },
  {
    name: 'soak',
    title: '7. Soak: the edge-oauth Worker (build/) under autocannon, 50 connections for 30 s, while the IdP flaps (healthy with 6 s tokens, 429 + Retry-After: 2, 500, hanging; 3 s each, repeated); TIMEOUT_MS 1000, MAX_WAIT_MS 2000',
    needs: ['build'],
    limitS: 90,
  },
  {
    name: 'broker',
    title: '8. Token broker: N isolates (edge-oauth Worker instances in one workerd) with and without TOKEN_BROKER, one request per isolate every 250 ms for 12 s, 5-second tokens renewed 1 s ahead; token requests per lifetime; the cold path\'s token time (Server-Timing "fetch"): the broker lookup vs a token request',
    needs: ['build'],
    limitS: 240,
  },
];

const { values } = parseArgs({ options: { only: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
if (values.help) {
  console.log(`usage: node tests/bench/run.mjs [--only=${SECTIONS.map((s) => s.name).join(',')}]`);
  process.exit(0);
}
const wanted = values.only ? values.only.split(',').map((s) => s.trim()).filter(Boolean) : SECTIONS.map((s) => s.name);
for (const name of wanted) {
  if (!SECTIONS.some((s) => s.name === name)) {
    console.error(`bench: unknown section "${name}" (sections: ${SECTIONS.map((s) => s.name).join(', ')})`);
    process.exit(2);
  }
}
const selected = SECTIONS.filter((s) => wanted.includes(s.name));
const log = (msg) => process.stderr.write(`${msg}\n`);

// ---- what the bench needs -----------------------------------------------------------------

function ensurePeers() {
  const lock = join(BENCH, 'package-lock.json');
  const installed = join(BENCH, 'node_modules', '.package-lock.json');
  if (existsSync(installed) && statSync(installed).mtimeMs >= statSync(lock).mtimeMs) return;
  log('bench: installing the benchmark peers (npm ci --prefix tests/bench)');
  const npm = spawnSync('npm', ['ci', '--prefix', BENCH, '--no-audit', '--no-fund'], { stdio: ['ignore', 2, 2], cwd: ROOT });
  if (npm.status !== 0) {
    log('bench: npm ci --prefix tests/bench failed');
    process.exit(1);
  }
}

const ARTIFACTS = {
  pkg: { files: ['edge_oauth_bg.wasm', 'edge_oauth.js', 'client.js', 'renewal.js', 'node.js'].map((f) => join(PKG, f)), how: 'node pkg-template/build.mjs' },
  build: { files: ['index.js', 'index_bg.wasm'].map((f) => join(BUILD, f)), how: 'bash .ci/build-worker' },
};

function checkArtifacts() {
  const needs = new Set(selected.flatMap((s) => s.needs));
  const missing = [...needs].filter((n) => ARTIFACTS[n].files.some((f) => !existsSync(f)));
  if (missing.length) {
    log(`bench: missing ${missing.map((n) => `${n}/ (${ARTIFACTS[n].how})`).join(' and ')}; \`npm run bench\` builds them first`);
    process.exit(1);
  }
}

function version(pkgJson) {
  try {
    return JSON.parse(readFileSync(pkgJson, 'utf8')).version;
  } catch {
    return undefined;
  }
}

function machine() {
  const cpus = os.cpus();
  return {
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpu: cpus[0]?.model?.trim() ?? 'unknown',
    cores: os.availableParallelism?.() ?? cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    workerd: version(join(ROOT, 'node_modules', '@cloudflare', 'workerd-linux-64', 'package.json')),
    miniflare: version(join(ROOT, 'node_modules', 'miniflare', 'package.json')),
    oidcProvider: version(join(ROOT, 'node_modules', 'oidc-provider', 'package.json')),
  };
}

// ---- running a section --------------------------------------------------------------------

let current = null;
const killGroup = (child) => {
  try {
    process.kill(-child.pid, 'SIGKILL'); // the section's own process group: it and what it started
  } catch {}
};
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (current) killGroup(current);
    process.exit(130);
  });
}

function runSection(section, outFile) {
  return new Promise((resolve) => {
    const script = join(BENCH, 'sections', `${section.name}.mjs`);
    const child = spawn(process.execPath, [...(section.nodeFlags ?? []), script, '--out', outFile], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    current = child;
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, section.limitS * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      current = null;
      killGroup(child); // anything it left behind
      resolve({ code, timedOut, output });
    });
  });
}

// ---- the table ----------------------------------------------------------------------------

function printTable(info, results) {
  const header = ['candidate', 'figure', 'ratio', 'budget', 'verdict'];
  const lines = [];
  for (const s of results) {
    lines.push({ title: s.title });
    if (!s.ok) {
      lines.push({ cells: ['(section failed)', s.error, '', '', 'ERROR'] });
      continue;
    }
    for (const r of s.rows) {
      const verdict = r.pass === undefined || r.pass === null ? '' : r.pass ? 'PASS' : 'FAIL';
      lines.push({ cells: [r.candidate, r.figure, r.ratio === undefined || r.ratio === null ? '' : fmt.ratio(r.ratio), r.budget ?? '', verdict] });
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...lines.filter((l) => l.cells).map((l) => String(l.cells[i]).length)));
  const total = widths.reduce((a, b) => a + b, 0) + 3 * (widths.length - 1);
  const fmtRow = (cells) => cells.map((c, i) => (i === 2 ? String(c).padStart(widths[i]) : String(c).padEnd(widths[i]))).join(' │ ').trimEnd();
  const out = [];
  out.push(`edge-oauth bench — ${info.date}`);
  out.push(`machine: ${info.machine.os}; ${info.machine.cpu}, ${info.machine.cores} cores, ${info.machine.memoryGiB} GiB; Node ${info.machine.node}; workerd ${info.machine.workerd} (miniflare ${info.machine.miniflare}); oidc-provider ${info.machine.oidcProvider}`);
  out.push('═'.repeat(total));
  out.push(fmtRow(header));
  for (const l of lines) {
    if (l.title) {
      out.push('─'.repeat(total));
      out.push(l.title);
    } else out.push(fmtRow(l.cells));
  }
  out.push('═'.repeat(total));
  const verdicts = results.flatMap((s) => (s.ok ? s.rows : [])).filter((r) => r.pass === true || r.pass === false);
  const passed = verdicts.filter((r) => r.pass).length;
  const failedSections = results.filter((s) => !s.ok).length;
  out.push(`budgets: ${passed} PASS, ${verdicts.length - passed} FAIL${failedSections ? `; ${failedSections} section(s) did not run` : ''} (measured, not asserted)`);
  console.log(out.join('\n'));
}

// ---- main ---------------------------------------------------------------------------------

ensurePeers();
checkArtifacts();
const started = new Date();
const info = { date: started.toISOString(), machine: machine(), sections: selected.map((s) => s.name) };
const resultsDir = join(ROOT, 'results');
mkdirSync(resultsDir, { recursive: true });
const stamp = started.toISOString().replace(/[:.]/g, '-');
const results = [];
for (const section of selected) {
  log(`bench: ${section.name} …`);
  const t0 = performance.now();
  const outFile = join(resultsDir, `.bench-${stamp}-${section.name}.json`);
  const { code, timedOut, output } = await runSection(section, outFile);
  const seconds = (performance.now() - t0) / 1000;
  let parsed;
  try {
    parsed = code === 0 ? JSON.parse(readFileSync(outFile, 'utf8')) : undefined;
  } catch {}
  rmSync(outFile, { force: true });
  if (parsed) {
    results.push({ name: section.name, title: section.title, ok: true, seconds, rows: parsed.rows, data: parsed.data });
    log(`bench: ${section.name} done in ${seconds.toFixed(1)} s`);
  } else {
    const why = timedOut ? `stopped after ${section.limitS} s` : `exit code ${code}`;
    const last = output.trim().split('\n').filter(Boolean).slice(-1)[0] ?? '';
    results.push({ name: section.name, title: section.title, ok: false, seconds, error: `${why}: ${last}`.slice(0, 200), output: output.slice(-4000) });
    log(`bench: ${section.name} FAILED (${why})\n${output.trim().split('\n').slice(-20).join('\n')}`);
  }
}
info.totalSeconds = (Date.now() - started.getTime()) / 1000;

printTable(info, results);
const jsonPath = join(resultsDir, `bench-${stamp}.json`);
writeFileSync(jsonPath, `${JSON.stringify({ ...info, results }, null, 2)}\n`);
console.log(`results: ${jsonPath} (${info.totalSeconds.toFixed(0)} s)`);
process.exit(results.every((s) => s.ok) ? 0 : 1);
