// 4a. Size, gzip -9 (zlib level 9, each file on its own, summed):
//   - the npm package's wasm and JS, measured like the peers: the esbuild bundle (minified)
//     of what a browser user imports, plus the wasm — the budget row; and the package's
//     files as shipped (unminified, with comments): pkg/edge_oauth_bg.wasm, edge_oauth.js,
//     client.js, authorized-fetch.js, renewal.js, node.js;
//   - the Worker upload: build/index.js + build/index_bg.wasm, and what
//     `wrangler deploy --dry-run` would upload (its own "gzip:" figure, from a copy of
//     wrangler.toml without the [build] step, so it packs build/ as it is);
//   - esbuild bundles (minified, ESM, platform browser) of what a client-credentials user
//     imports from each peer (tests/bench/entries/), and of edge-oauth's browser entry plus
//     its wasm. simple-oauth2 only runs in Node: bundled for platform node.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { BENCH, BUILD, PKG, ROOT, fmt, row, runSection } from '../lib/common.mjs';
import { labelOf } from '../lib/candidates.mjs';

const KiB = 1024;
const gz = (bytes) => gzipSync(bytes, { level: 9 }).length;

function files(dir, names) {
  const list = names.map((name) => {
    const bytes = readFileSync(join(dir, name));
    return { name, raw: bytes.length, gzip: gz(bytes) };
  });
  return { files: list, raw: list.reduce((s, f) => s + f.raw, 0), gzip: list.reduce((s, f) => s + f.gzip, 0) };
}

function wranglerDryRun() {
  const dir = mkdtempSync(join(tmpdir(), 'edge-oauth-bench-wrangler-'));
  const toml = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8');
  const pick = (key) => toml.match(new RegExp(`^${key}\\s*=\\s*"([^"]*)"`, 'm'))?.[1];
  writeFileSync(
    join(dir, 'wrangler.toml'),
    [
      `name = "${pick('name') ?? 'edge-oauth-proxy'}"`,
      `main = ${JSON.stringify(join(ROOT, pick('main') ?? 'build/index.js'))}`,
      `compatibility_date = "${pick('compatibility_date') ?? '2026-07-01'}"`,
      '',
    ].join('\n'),
  );
  const outdir = join(dir, 'out');
  return new Promise((resolve) => {
    execFile(
      'npx',
      ['--no-install', 'wrangler', 'deploy', '--dry-run', '--outdir', outdir, '--config', join(dir, 'wrangler.toml')],
      {
        cwd: ROOT,
        timeout: 90_000,
        env: {
          ...process.env,
          WRANGLER_SEND_METRICS: 'false',
          WRANGLER_SEND_ERROR_REPORTS: 'false',
          CLOUDFLARE_CF_FETCH_ENABLED: 'false',
          WRANGLER_HIDE_BANNER: 'true',
          CI: 'true',
        },
      },
      (err, stdout, stderr) => {
        const text = `${stdout}\n${stderr}`;
        const m = text.match(/Total Upload:\s*([\d.]+)\s*KiB\s*\/\s*gzip:\s*([\d.]+)\s*KiB/);
        let out;
        try {
          const names = readdirSync(outdir).filter((n) => /\.(js|mjs|wasm)$/.test(n));
          out = files(outdir, names);
        } catch {
          out = undefined;
        }
        rmSync(dir, { recursive: true, force: true });
        if (!m) return resolve({ ok: false, error: (err?.message ?? text).slice(-600) });
        resolve({ ok: true, totalKiB: Number(m[1]), gzipKiB: Number(m[2]), outdir: out });
      },
    );
  });
}

async function bundle(esbuild, entry, platform) {
  const result = await esbuild.build({
    entryPoints: [join(BENCH, 'entries', entry)],
    bundle: true,
    minify: true,
    format: 'esm',
    platform,
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  const bytes = Buffer.concat(result.outputFiles.map((f) => Buffer.from(f.contents)));
  return { raw: bytes.length, gzip: gz(bytes) };
}

await runSection('size', async () => {
  const esbuild = createRequire(join(ROOT, 'package.json'))('esbuild');
  const npm = files(PKG, ['edge_oauth_bg.wasm', 'edge_oauth.js', 'client.js', 'authorized-fetch.js', 'renewal.js', 'node.js']);
  const worker = files(BUILD, ['index.js', 'index_bg.wasm']);
  const wrangler = await wranglerDryRun();
  const wasmGzip = npm.files[0].gzip;
  const edgeJs = await bundle(esbuild, 'edge-oauth.js', 'browser');
  const peers = {
    badgateway: await bundle(esbuild, 'badgateway.js', 'browser'),
    oauth4webapi: await bundle(esbuild, 'oauth4webapi.js', 'browser'),
    openid: await bundle(esbuild, 'openid-client.js', 'browser'),
    simple: await bundle(esbuild, 'simple-oauth2.js', 'node'),
  };

  const base = edgeJs.gzip + wasmGzip;
  const rows = [
    row('edge-oauth npm: wasm + JS (bundled like the peers)', `${fmt.bytes(base)} gzip (${fmt.int(base)} B: wasm ${fmt.int(wasmGzip)} B, JS ${fmt.int(edgeJs.gzip)} B)`, {
      ratio: 1,
      budget: '≤ 20 KiB',
      pass: base <= 20 * KiB,
    }),
    row('edge-oauth npm files as shipped', `${fmt.bytes(npm.gzip)} gzip (${fmt.int(npm.gzip)} B, each file unminified)`, {
      ratio: npm.gzip / base,
    }),
  ];
  for (const [name, b] of Object.entries(peers)) {
    rows.push(
      row(`${labelOf(name)} bundle${name === 'simple' ? ' (node)' : ''}`, `${fmt.bytes(b.gzip)} gzip (${fmt.int(b.gzip)} B)`, {
        ratio: b.gzip / base,
      }),
    );
  }
  rows.push(
    row('edge-oauth Worker: build/ index.js + wasm', `${fmt.bytes(worker.gzip)} gzip (${fmt.int(worker.gzip)} B)`, {
      budget: '≤ 150 KiB',
      pass: worker.gzip <= 150 * KiB,
    }),
  );
  if (wrangler.ok) {
    rows.push(
      row('edge-oauth Worker: wrangler --dry-run upload', `${wrangler.gzipKiB.toFixed(1)} KiB gzip (wrangler; ${wrangler.totalKiB.toFixed(1)} KiB raw)`, {
        budget: '≤ 150 KiB',
        pass: wrangler.gzipKiB <= 150,
      }),
    );
  } else {
    rows.push(row('edge-oauth Worker: wrangler --dry-run upload', `not measured: ${wrangler.error.split('\n').filter(Boolean).at(-1)}`));
  }
  return {
    rows,
    data: {
      unit: 'bytes, gzip level 9 of each file, summed; KiB = 1024 B',
      npmPackage: npm,
      workerBuild: worker,
      wranglerDryRun: wrangler,
      bundles: { edgeOauthBrowserJs: edgeJs, edgeOauthWasm: wasmGzip, ...peers },
      wasmRawBytes: statSync(join(PKG, 'edge_oauth_bg.wasm')).size,
    },
  };
});
