// The packages as users receive them: what pkg/ holds and `npm pack` would publish (licences
// included), that the Worker (cargo feature `worker`) left no trace in the npm wasm, and that
// the crate as `cargo package` would publish it holds its sources and licences, nothing else.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const pkg = new URL('../../pkg/', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('package.json', pkg), 'utf8'));

describe('npm package', () => {
  it('lists every file its exports and types point at', () => {
    const targets = [manifest.types, manifest.main, manifest.browser, ...Object.values(manifest.exports['.'])];
    for (const target of targets) {
      const file = target.replace(/^\.\//, '');
      assert.ok(manifest.files.includes(file), `${file} is in "files"`);
      assert.ok(readFileSync(new URL(file, pkg)).length > 0, `${file} exists`);
    }
    assert.equal(manifest.name, 'edge-oauth');
    assert.equal(manifest.type, 'module');
  });

  it('carries none of the Worker code in its wasm', () => {
    const wasm = readFileSync(new URL('edge_oauth_bg.wasm', pkg)).toString('latin1');
    // Worker vars too: the settings table's var names are built only for the Worker.
    for (const workerOnly of ['ORIGIN_URL', 'PROXY_KEYS', 'PROXY_KEY_HEADER', 'TOKEN_URL', 'CLIENT_SECRET', 'server-timing', 'origin_unreachable']) {
      assert.equal(wasm.includes(workerOnly), false, `${workerOnly} found in the npm wasm`);
    }
    // And it is the token client: its own messages are there.
    assert.ok(wasm.includes('give exactly one of tokenUrl, issuer or keycloak'));
  });

  it('npm pack holds exactly the files the package needs, its licences among them', () => {
    const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: fileURLToPath(pkg),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }));
    const files = packed.files.map((f) => f.path).sort();
    assert.deepEqual(files, [...manifest.files, 'package.json'].sort());
    for (const licence of ['LICENSE-MIT', 'LICENSE-APACHE']) assert.ok(files.includes(licence), licence);
    assert.equal(manifest.license, 'MIT OR Apache-2.0');
  });
});

describe('crate', () => {
  it('cargo package holds the sources, README and licences: no tests, fixtures, servers or node_modules', () => {
    const listed = execFileSync('cargo', ['package', '--list', '--allow-dirty'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
    for (const needed of ['Cargo.toml', 'README.md', 'LICENSE-MIT', 'LICENSE-APACHE', 'src/lib.rs', 'src/worker/platform.js']) {
      assert.ok(listed.includes(needed), `${needed} is packaged`);
    }
    const stray = listed.filter((f) => !/^(src\/|Cargo\.(toml|lock)|Cargo\.toml\.orig$|README\.md$|LICENSE-(MIT|APACHE)$|\.cargo_vcs_info\.json$)/.test(f));
    assert.deepEqual(stray, [], 'files beyond the crate itself');
    assert.match(readFileSync(new URL('../../Cargo.toml', import.meta.url), 'utf8'), /^license = "MIT OR Apache-2.0"$/m);
  });
});
