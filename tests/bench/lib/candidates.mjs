// The token clients the benchmark compares, each set up the way a client-credentials user
// would, against the bench authorization server (lib/auth.mjs), each with its own client id.
//
// Every candidate is { name, label, get, token } where
//   get()      what the user's code awaits to have a token (the call that is timed);
//   token(v)   the access token string from get()'s value (some libraries resolve an object).
//
// Peers come from tests/bench/node_modules (pinned in tests/bench/package.json).

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SCOPE } from './auth.mjs';

const require = createRequire(import.meta.url);
const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));

/** The installed version of a bench peer (from its package.json). */
export function peerVersion(name) {
  const path = require.resolve(`${name}/package.json`, { paths: [BENCH_DIR] });
  return JSON.parse(readFileSync(path, 'utf8')).version;
}

export const LABELS = {
  baseline: 'hand-written async get()',
  edge: 'edge-oauth',
  badgateway: '@badgateway/oauth2-client',
  simple: 'simple-oauth2',
  oauth4webapi: 'oauth4webapi',
  openid: 'openid-client',
};

const PACKAGES = {
  badgateway: '@badgateway/oauth2-client',
  simple: 'simple-oauth2',
  oauth4webapi: 'oauth4webapi',
  openid: 'openid-client',
};

/** "simple-oauth2 5.1.0" etc.; edge-oauth and the baseline as they are. */
export function labelOf(name) {
  return PACKAGES[name] ? `${LABELS[name]} ${peerVersion(PACKAGES[name])}` : LABELS[name];
}

const basicHeader = (id, secret) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/**
 * The practical floor: a hand-written cache over `{ token, expiresAt }` with a plain fetch to
 * refill it. No single flight, no refresh ahead, no margin: what people write first.
 */
function baseline(auth, _edge, { fetch = globalThis.fetch } = {}) {
  const { clientId, clientSecret } = auth.client('baseline');
  let cache = { token: undefined, expiresAt: 0 };
  async function fetchToken() {
    const response = await fetch(auth.tokenUrl, {
      method: 'POST',
      headers: {
        authorization: basicHeader(clientId, clientSecret),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: SCOPE }),
    });
    if (!response.ok) throw new Error(`token endpoint answered ${response.status}`);
    return response.json();
  }
  async function get() {
    if (Date.now() < cache.expiresAt) return cache.token;
    const body = await fetchToken();
    cache = { token: body.access_token, expiresAt: Date.now() + body.expires_in * 1000 };
    return cache.token;
  }
  return { get, token: (v) => v };
}

async function edge(auth, { TokenClient }, { fetch } = {}) {
  const { clientId, clientSecret } = auth.client('edge');
  const client = new TokenClient({ tokenUrl: auth.tokenUrl, clientId, clientSecret, scope: SCOPE, ...(fetch && { fetch }) });
  return { get: () => client.getToken(), token: (v) => v, client };
}

async function badgateway(auth, _edge, { fetch } = {}) {
  const { OAuth2Client, OAuth2Fetch } = await import('@badgateway/oauth2-client');
  const { clientId, clientSecret } = auth.client('badgateway');
  const client = new OAuth2Client({
    server: new URL(auth.tokenUrl).origin,
    tokenEndpoint: auth.tokenPath,
    clientId,
    clientSecret,
    authenticationMethod: 'client_secret_basic',
    ...(fetch && { fetch }),
  });
  const wrapper = new OAuth2Fetch({
    client,
    getNewToken: () => client.clientCredentials({ scope: [SCOPE] }),
  });
  return { get: () => wrapper.getToken(), token: (v) => v.accessToken };
}

async function simple(auth) {
  const { ClientCredentials } = (await import('simple-oauth2')).default;
  const { clientId, clientSecret } = auth.client('simple');
  const url = new URL(auth.tokenUrl);
  const client = new ClientCredentials({
    client: { id: clientId, secret: clientSecret },
    auth: { tokenHost: url.origin, tokenPath: url.pathname },
    options: { authorizationMethod: 'header' },
  });
  let accessToken = null;
  // The library's documented idiom: reuse the token until expired(), then get a new one.
  async function get() {
    if (accessToken === null || accessToken.expired()) {
      accessToken = await client.getToken({ scope: SCOPE });
    }
    return accessToken.token.access_token;
  }
  return { get, token: (v) => v };
}

async function oauth4webapi(auth, _edge, { fetch } = {}) {
  const oauth = await import('oauth4webapi');
  const { clientId, clientSecret } = auth.client('oauth4webapi');
  const as = { issuer: auth.issuer, token_endpoint: auth.tokenUrl };
  const client = { client_id: clientId };
  const clientAuth = oauth.ClientSecretBasic(clientSecret);
  const options = { [oauth.allowInsecureRequests]: true, ...(fetch && { [oauth.customFetch]: fetch }) };
  // No cache in the library: each call is a token request.
  async function get() {
    const response = await oauth.clientCredentialsGrantRequest(as, client, clientAuth, { scope: SCOPE }, options);
    const result = await oauth.processClientCredentialsResponse(as, client, response);
    return result.access_token;
  }
  return { get, token: (v) => v };
}

async function openid(auth, _edge, { fetch } = {}) {
  const oidc = await import('openid-client');
  const { clientId, clientSecret } = auth.client('openid');
  const config = new oidc.Configuration(
    { issuer: auth.issuer, token_endpoint: auth.tokenUrl },
    clientId,
    clientSecret,
    oidc.ClientSecretBasic(clientSecret),
  );
  oidc.allowInsecureRequests(config);
  if (fetch) config[oidc.customFetch] = fetch;
  // No cache in the library: each call is a token request.
  async function get() {
    const result = await oidc.clientCredentialsGrant(config, { scope: SCOPE });
    return result.access_token;
  }
  return { get, token: (v) => v };
}

const FACTORIES = { baseline, edge, badgateway, simple, oauth4webapi, openid };

/**
 * Builds the named candidates against `auth`.
 * @param {string[]} names keys of LABELS
 * @param {object} auth from startAuth()
 * @param {{ TokenClient: Function }} edgeModule the edge-oauth module (pkg/node.js or client.js)
 * @param {{ fetch?: typeof fetch }} [options] the fetch the fetch-based candidates use
 *   (simple-oauth2 has its own HTTP client and keeps it)
 */
export async function makeCandidates(names, auth, edgeModule, options = {}) {
  const out = [];
  for (const name of names) {
    const made = await FACTORIES[name](auth, edgeModule, options);
    out.push({ name, label: labelOf(name), ...made });
  }
  return out;
}

/** The JWT payload's `exp` (seconds), or undefined for a token that is not a JWT. */
export function jwtExp(token) {
  const parts = String(token).split('.');
  if (parts.length !== 3) return undefined;
  try {
    return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')).exp;
  } catch {
    return undefined;
  }
}

/**
 * globalThis.fetch with at most `limit` requests in flight; the others wait their turn. The
 * cold section uses it so that 10,000 concurrent calls do not open 10,000 loopback
 * connections at once (the server's listen backlog overflows, connects time out, and the
 * failures say nothing about the library). Every call still makes its request.
 */
export function boundedFetch(limit) {
  let active = 0;
  const queue = [];
  const acquire = () => {
    if (active < limit) {
      active++;
      return undefined;
    }
    return new Promise((resolve) => queue.push(resolve)); // the slot is handed over as it is
  };
  const release = () => {
    const next = queue.shift();
    if (next) next();
    else active--;
  };
  return async (...args) => {
    await acquire();
    try {
      return await fetch(...args);
    } finally {
      release();
    }
  };
}
