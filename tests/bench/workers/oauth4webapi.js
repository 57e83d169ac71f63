// A plain JS Worker that attaches a cached token fetched with oauth4webapi: the token lives
// in module scope (shared by the isolate's requests), one request at a time renews it (single
// flight) when it is missing or within EXPIRY_MARGIN_MS of its expiry. Env as the edge-oauth
// Worker: ORIGIN_URL, TOKEN_URL, CLIENT_ID, CLIENT_SECRET, SCOPE, PROXY_KEYS;
// ALLOW_INSECURE_HTTP=true for a plain-http token endpoint (the bench's is on 127.0.0.1).
import * as oauth from 'oauth4webapi';
import { keyAccepted, unauthorized, upstreamRequest } from './proxy-common.js';

const EXPIRY_MARGIN_MS = 10_000;
let cached = null; // { accessToken, expiresAt }
let renewing = null;

async function requestToken(env) {
  const as = { issuer: new URL(env.TOKEN_URL).origin, token_endpoint: env.TOKEN_URL };
  const client = { client_id: env.CLIENT_ID };
  const options = env.ALLOW_INSECURE_HTTP === 'true' ? { [oauth.allowInsecureRequests]: true } : {};
  const parameters = env.SCOPE ? { scope: env.SCOPE } : {};
  const response = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(env.CLIENT_SECRET), parameters, options);
  const result = await oauth.processClientCredentialsResponse(as, client, response);
  return { accessToken: result.access_token, expiresAt: Date.now() + (result.expires_in ?? 300) * 1000 };
}

function accessToken(env) {
  if (cached !== null && Date.now() < cached.expiresAt - EXPIRY_MARGIN_MS) return cached.accessToken;
  renewing ??= requestToken(env)
    .then((token) => {
      cached = token;
      return token.accessToken;
    })
    .finally(() => {
      renewing = null;
    });
  return renewing;
}

export default {
  async fetch(request, env) {
    if (!keyAccepted(request, env)) return unauthorized();
    let token;
    try {
      token = await accessToken(env);
    } catch (err) {
      return new Response(JSON.stringify({ error: 'token_unavailable', message: String(err?.message ?? err) }), {
        status: 502,
        headers: { 'content-type': 'application/json' },
      });
    }
    return fetch(upstreamRequest(request, env, token));
  },
};
