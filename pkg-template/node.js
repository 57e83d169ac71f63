// Node entry: compile the wasm from the file next to this one, synchronously, at import.
import { readFileSync } from 'node:fs';
import { initSync } from './edge_oauth.js';

initSync({ module: readFileSync(new URL('./edge_oauth_bg.wasm', import.meta.url)) });

export { TokenClient, TokenError } from './client.js';
