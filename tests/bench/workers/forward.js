// A plain JS Worker that only forwards: the caller's key is checked, the request goes to
// ORIGIN_URL without any token. The floor for what a proxy Worker costs.
import { keyAccepted, unauthorized, upstreamRequest } from './proxy-common.js';

export default {
  async fetch(request, env) {
    if (!keyAccepted(request, env)) return unauthorized();
    return fetch(upstreamRequest(request, env));
  },
};
