// The four seed systems (shared/SEEDS.md) on 127.0.0.1, as routes of one edge-oauth Worker
// (ROUTES): for the gateway tests, `npm run demo` and the bench.
//
//   /ainua/     Keycloak path, realm ncp, client_secret_post, header `Authentication`: a
//               fixture token endpoint replaying the guide, and an echo origin
//   /apiture/   discovery, client_secret_basic, scopes: fixture discovery and token endpoint,
//               and an echo origin
//   /realm/     a Keycloak realm API: oidc-provider on the Keycloak token path issuing
//               `realmTtl`-second JWTs, and an API that verifies them (jwt-api-server)
//   /infolink/  InfoLink's custom path over http, the password grant, refresh tokens, its
//               nested expired-token answer (the InfoLink fixture server; POST executeJob)
//
//   const seeds = await startSeedSystems({ realmTtl: 5 });
//   seeds.routes()         the ROUTES array (secrets named, never inline)
//   seeds.secrets          the Worker secrets those routes name, and PROXY_KEYS / AINUA_KEYS
//   seeds.keys             { gateway, ainua }: the key every route but Ainua takes, and Ainua's
//   seeds.tokenCounts()    token requests so far, per route
//   seeds.lastSeen(name)   what the route's origin last saw: { path, header, value }
//   seeds.request(name)    [path, init] for a request the route's origin answers with 200
//   seeds.servers          the servers themselves; await seeds.close()

import { DEFAULT_RESOURCE, CLIENTS, startAuthServer } from './auth-server.mjs';
import { startEchoOrigin } from './echo-origin.mjs';
import { startFixtureServer } from './fixture-server.mjs';
import { INFOLINK_CLIENT, INFOLINK_USER, JOB_PATH, startInfoLinkServer } from './infolink-server.mjs';
import { startJwtApiServer } from './jwt-api-server.mjs';

export const AINUA = Object.freeze({ clientId: 'ainua-connector', clientSecret: 'ainua-secret-Vb71', tokenPrefix: 'ainua-token-Qe83-' });
export const APITURE = Object.freeze({ clientId: 'apiture-app', clientSecret: 'apiture-secret-Mn52', tokenPrefix: 'apiture-token-Gh29-' });
export const REALM = CLIENTS.post;
export const KEYCLOAK_PATH = '/realms/apps/protocol/openid-connect/token';
export const AINUA_TOKEN_PATH = '/realms/ncp/protocol/openid-connect/token';
export const SEED_NAMES = Object.freeze(['ainua', 'apiture', 'realm', 'infolink']);

export async function startSeedSystems({ realmTtl = 5 } = {}) {
  const [ainuaIdp, apitureIdp, realmIdp, infolink, ainuaOrigin, apitureOrigin] = await Promise.all([
    startFixtureServer(),
    startFixtureServer(),
    startAuthServer({ tokenPath: KEYCLOAK_PATH, accessTokenTtl: realmTtl }),
    startInfoLinkServer({ accessTokenTtl: 1800 }),
    startEchoOrigin(),
    startEchoOrigin(),
  ]);
  const realmApi = await startJwtApiServer({ issuer: realmIdp.issuer, jwksUrl: realmIdp.jwksUrl, audience: DEFAULT_RESOURCE });

  // The fixture endpoints answer every request with a new token, as the guides show them.
  let serial = 0;
  const tokens = (prefix) => Array.from({ length: 500 }, () => ({
    body: { access_token: `${prefix}${(serial += 1)}`, token_type: 'Bearer', expires_in: 300 },
  }));
  ainuaIdp.script(AINUA_TOKEN_PATH, tokens(AINUA.tokenPrefix));
  apitureIdp.script('/.well-known/openid-configuration', [{
    body: { issuer: apitureIdp.url, token_endpoint: `${apitureIdp.url}/token`, token_endpoint_auth_methods_supported: ['client_secret_basic'] },
  }]);
  apitureIdp.script('/token', tokens(APITURE.tokenPrefix));

  const keys = Object.freeze({ gateway: 'gateway-key-Tz41', ainua: 'ainua-only-key-Rp06' });
  const secrets = Object.freeze({
    AINUA_CLIENT_SECRET: AINUA.clientSecret,
    APITURE_CLIENT_SECRET: APITURE.clientSecret,
    REALM_CLIENT_SECRET: REALM.clientSecret,
    INFOLINK_CLIENT_SECRET: INFOLINK_CLIENT.clientSecret,
    INFOLINK_PASSWORD: INFOLINK_USER.password,
    PROXY_KEYS: keys.gateway,
    AINUA_KEYS: keys.ainua,
  });

  const last = (list) => list.at(-1) ?? {};
  return {
    servers: { ainuaIdp, apitureIdp, realmIdp, infolink, ainuaOrigin, apitureOrigin, realmApi },
    keys,
    secrets,
    routes: () => [
      {
        prefix: '/ainua/',
        origin: `${ainuaOrigin.url}/ainua-api`,
        keycloak: { baseUrl: ainuaIdp.url, realm: 'ncp' },
        clientId: AINUA.clientId,
        clientSecret: { secret: 'AINUA_CLIENT_SECRET' },
        authMethod: 'client_secret_post',
        headerName: 'Authentication',
        keys: 'AINUA_KEYS',
      },
      {
        prefix: '/apiture/',
        origin: apitureOrigin.url,
        issuer: apitureIdp.url,
        clientId: APITURE.clientId,
        clientSecret: { secret: 'APITURE_CLIENT_SECRET' },
        authMethod: 'client_secret_basic',
        scope: 'banking/read banking/write',
      },
      {
        prefix: '/realm/',
        origin: realmApi.url,
        keycloak: { baseUrl: realmIdp.issuer, realm: 'apps' },
        clientId: REALM.clientId,
        clientSecret: { secret: 'REALM_CLIENT_SECRET' },
        authMethod: 'client_secret_post',
        refreshAheadSeconds: Math.min(60, Math.floor(realmTtl / 2)),
        expiryMarginSeconds: Math.min(10, Math.floor(realmTtl / 5)),
      },
      {
        prefix: '/infolink/',
        origin: `${infolink.url}/api/v1`,
        tokenUrl: infolink.tokenUrl,
        clientId: INFOLINK_CLIENT.clientId,
        clientSecret: { secret: 'INFOLINK_CLIENT_SECRET' },
        authMethod: 'client_secret_post',
        grant: { type: 'password', username: INFOLINK_USER.username, password: { secret: 'INFOLINK_PASSWORD' } },
      },
    ],
    tokenCounts: () => ({
      ainua: ainuaIdp.count(AINUA_TOKEN_PATH),
      apiture: apitureIdp.count('/token'),
      realm: realmIdp.tokenRequests,
      infolink: infolink.tokenRequests,
    }),
    /** The key a route takes. */
    keyFor: (name) => (name === 'ainua' ? keys.ainua : keys.gateway),
    /** [path, init] of a request the route's origin answers with 200. */
    request: (name) => ({
      ainua: ['/ainua/v1/sources/echo', {}],
      apiture: ['/apiture/accounts/echo', {}],
      realm: ['/realm/echo/items', {}],
      infolink: ['/infolink/executeJob', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"job":"sync"}' }],
    })[name],
    /** What the route's origin last saw: the path, and the header that carried the token. */
    lastSeen(name) {
      switch (name) {
        case 'ainua': {
          const seen = last(ainuaOrigin.requests);
          return { path: seen.path, header: 'Authentication', value: seen.headers?.authentication };
        }
        case 'apiture': {
          const seen = last(apitureOrigin.requests);
          return { path: seen.path, header: 'Authorization', value: seen.headers?.authorization };
        }
        case 'realm': {
          const seen = last(realmApi.requests);
          return { path: seen.path, header: 'Authorization', value: seen.headers?.authorization };
        }
        case 'infolink': {
          const line = last(infolink.log.filter((l) => l.includes(JOB_PATH)));
          const value = /authorization=(\S+ \S+)/.exec(line ?? '')?.[1];
          return { path: JOB_PATH, header: 'Authorization', value };
        }
        default:
          throw new TypeError(`no seed system ${name}`);
      }
    },
    async close() {
      await Promise.all([ainuaIdp, apitureIdp, realmIdp, infolink, ainuaOrigin, apitureOrigin, realmApi].map((s) => s.close()));
    },
  };
}
