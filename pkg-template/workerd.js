// Cloudflare Workers (workerd) entry: the runtime imports .wasm as a compiled module.
import wasm from './edge_oauth_bg.wasm';
import { initSync } from './edge_oauth.js';

initSync({ module: wasm });

export { TokenClient, TokenError } from './client.js';
