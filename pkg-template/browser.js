// Browser (and Deno-like) entry: fetch and instantiate the wasm next to this file at import.
import init from './edge_oauth.js';

await init({ module_or_path: new URL('./edge_oauth_bg.wasm', import.meta.url) });

export { TokenClient, TokenError } from './client.js';
