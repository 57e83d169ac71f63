// Builds the npm package into pkg/: wasm-pack compiles the crate (release profile, wasm-opt
// from the npm binaryen package first on PATH), then this template supplies package.json,
// the runtime entry points, the types and the README.
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const template = join(root, 'pkg-template');
const out = join(root, 'pkg');

// --no-default-features: the core without std (see src/no_std_wasm.rs).
execFileSync('wasm-pack', ['build', '--release', '--no-pack', '--target', 'web', '--out-dir', out, '--out-name', 'edge_oauth', root, '--', '--no-default-features'], {
  stdio: 'inherit',
  env: { ...process.env, PATH: [join(root, 'node_modules', '.bin'), process.env.PATH].join(delimiter) },
});

const version = readFileSync(join(root, 'Cargo.toml'), 'utf8').match(/^version = "(.+)"$/m)[1];
const manifest = JSON.parse(readFileSync(join(template, 'package.json'), 'utf8'));
writeFileSync(join(out, 'package.json'), JSON.stringify({ name: manifest.name, version, ...manifest }, null, 2) + '\n');
// The licence files live at the repository root, the rest of the package's JS here.
for (const file of manifest.files.filter((f) => !f.startsWith('edge_oauth'))) {
  copyFileSync(join(file.startsWith('LICENSE-') ? root : template, file), join(out, file));
}
console.log(`built ${out} (edge-oauth ${version})`);
