// The npm package as published: what pkg/ holds, and that the Worker (cargo feature `worker`)
// left no trace in its wasm.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

const pkg = new URL('../pkg/', import.meta.url);
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
    for (const workerOnly of ['ORIGIN_URL', 'PROXY_KEYS', 'PROXY_KEY_HEADER', 'server-timing', 'origin_unreachable']) {
      assert.equal(wasm.includes(workerOnly), false, `${workerOnly} found in the npm wasm`);
    }
    // And it is the token client: its own messages are there.
    assert.ok(wasm.includes('clientId is required'));
  });
});
