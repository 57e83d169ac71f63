// One fresh process of the compile benchmark: reads pkg/edge_oauth_bg.wasm and imports the
// wasm-bindgen glue (neither timed), then times the package's initSync({ module: bytes }),
// which compiles (new WebAssembly.Module) and instantiates with the glue's imports: what
// pkg/node.js does at import. Prints {"ms": …, "asyncMs": …} where asyncMs is
// WebAssembly.compile() of the same bytes in the same process, for reference.

import { readFileSync } from 'node:fs';
import { PKG } from './common.mjs';

const bytes = readFileSync(`${PKG}edge_oauth_bg.wasm`);
const glue = await import(`${PKG}edge_oauth.js`);
const start = performance.now();
const exports = glue.initSync({ module: bytes });
const ms = performance.now() - start;
if (!(exports?.memory instanceof WebAssembly.Memory)) throw new Error('initSync returned no wasm exports');
const asyncStart = performance.now();
await WebAssembly.compile(bytes);
const asyncMs = performance.now() - asyncStart;
process.stdout.write(`${JSON.stringify({ ms, asyncMs })}\n`);
