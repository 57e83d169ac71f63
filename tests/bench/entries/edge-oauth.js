// What a browser user of edge-oauth imports (the .wasm next to it is counted separately).
export { TokenClient, TokenError } from '../../../pkg/browser.js';
