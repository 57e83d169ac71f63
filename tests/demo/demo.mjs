// The demo behind `npm run demo`: a real authorization server (oidc-provider) on 127.0.0.1
// and the edge-oauth npm package getting, reusing and refreshing tokens, saying what happens.
import { setTimeout as sleep } from 'node:timers/promises';
import { TokenClient } from '../../pkg/node.js';
import { CLIENTS, startAuthServer } from '../support/auth-server.mjs';
import { startEchoOrigin } from '../support/echo-origin.mjs';
import { SEED_NAMES, startSeedSystems } from '../support/seed-systems.mjs';
import { startWorker } from '../support/worker-harness.mjs';

const TTL = 6;
const short = (token) => `${token.slice(0, 12)}…${token.slice(-6)}`;
const clock = (t0) => `${((Date.now() - t0) / 1000).toFixed(1).padStart(4)} s`;

const server = await startAuthServer();
server.setAccessTokenTtl(TTL);
console.log(`authorization server (oidc-provider) at ${server.issuer}, issuing ${TTL}-second JWT access tokens`);

const client = new TokenClient({
  issuer: server.issuer,
  clientId: CLIENTS.basic.clientId,
  clientSecret: CLIENTS.basic.clientSecret,
  scope: ['api:read', 'api:write'],
});
console.log(`client '${CLIENTS.basic.clientId}' (client_secret_basic), token endpoint found by discovery\n`);
const t0 = Date.now();

let started = performance.now();
const info = await client.getTokenInfo();
console.log(`[${clock(t0)}] first call: new token ${short(info.accessToken)} (${info.tokenType}, scope '${info.scope}') in ${(performance.now() - started).toFixed(1)} ms`);
console.log(`          expires at ${new Date(info.expiresAt).toISOString()}, ${server.tokenRequests} token request so far`);

started = performance.now();
const again = await client.getToken();
console.log(`[${clock(t0)}] second call: ${again === info.accessToken ? 'same token' : 'a different token'} from memory in ${((performance.now() - started) * 1000).toFixed(0)} µs, still ${server.tokenRequests} token request`);

const burst = await Promise.all(Array.from({ length: 1000 }, () => client.getToken()));
console.log(`[${clock(t0)}] 1,000 concurrent calls: ${new Set(burst).size} distinct token, still ${server.tokenRequests} token request`);

console.log(`\npolling every 250 ms for ${2 * TTL + 1} s: short tokens refresh ahead, in the background`);
let last = info.accessToken;
let expiredHandedOut = 0;
const until = Date.now() + (2 * TTL + 1) * 1000;
while (Date.now() < until) {
  const current = await client.getTokenInfo();
  if (current.expiresAt <= Date.now()) expiredHandedOut++;
  if (current.accessToken !== last) {
    console.log(`[${clock(t0)}] new token ${short(current.accessToken)}; token requests: ${server.tokenRequests}`);
    last = current.accessToken;
  }
  await sleep(250);
}

const stats = client.stats();
console.log(`\nstats: ${JSON.stringify(stats)}`);
console.log(`expired tokens handed out: ${expiredHandedOut}`);

// The Worker: the same core as a proxy in workerd, attaching tokens on the way to an origin.
const origin = await startEchoOrigin();
const PROXY_KEY = 'demo-proxy-key';
const worker = await startWorker({
  bindings: {
    ORIGIN_URL: `${origin.url}/api`,
    ISSUER: server.issuer,
    CLIENT_ID: CLIENTS.post.clientId,
    CLIENT_SECRET: CLIENTS.post.clientSecret,
    AUTH_METHOD: 'client_secret_post',
    SCOPE: 'api:read',
    PROXY_KEYS: PROXY_KEY,
  },
});
const before = server.tokenRequests;
console.log(`\nWorker proxy (workerd via miniflare) at ${worker.url} -> origin ${origin.url}/api`);
for (const path of ['/v1/accounts?limit=2', '/v1/accounts/42']) {
  const response = await worker.dispatchFetch(path, { headers: { 'Proxy-Authorization': `Bearer ${PROXY_KEY}` } });
  const seen = await response.json();
  const bearer = seen.headers.authorization ?? '';
  console.log(`GET ${path} -> ${response.status}; the origin saw ${seen.url} with 'Authorization: ${bearer.slice(0, 7)}${short(bearer.slice(7))}'`);
  console.log(`          Server-Timing: ${response.headers.get('server-timing')}`);
}
const refused = await worker.dispatchFetch('/v1/accounts');
console.log(`GET /v1/accounts without a proxy key -> ${refused.status} ${(await refused.json()).error}; origin requests: ${origin.requests.length}`);
const burst2 = await Promise.all(Array.from({ length: 200 }, (_, i) =>
  worker.dispatchFetch(`/v1/items/${i}`, { headers: { 'Proxy-Authorization': `Bearer ${PROXY_KEY}` } }).then((r) => r.arrayBuffer().then(() => r.status))));
console.log(`200 concurrent requests through the Worker: ${burst2.filter((s) => s === 200).length} answered 200, token requests for it: ${server.tokenRequests - before}`);

await worker.dispose();
await origin.close();
await server.close();

// The Worker as a gateway: the four seed systems behind one Worker, one route each (ROUTES).
const seeds = await startSeedSystems({ realmTtl: 300 });
const gateway = await startWorker({ bindings: { ROUTES: seeds.routes(), ...seeds.secrets } });
console.log(`\nthe four seed systems behind one Worker (ROUTES), at ${gateway.url}`);
for (const route of seeds.routes()) {
  const what = route.keycloak ? `Keycloak realm ${route.keycloak.realm}` : route.issuer ? 'discovery' : route.tokenUrl.replace(/^https?:\/\/[^/]+/, '');
  console.log(`  ${route.prefix.padEnd(11)} -> ${route.origin}  (token: ${what}, ${route.authMethod}${route.grant ? `, ${route.grant.type} grant` : ''})`);
}
for (const name of SEED_NAMES) {
  const [path, init] = seeds.request(name);
  const response = await gateway.dispatchFetch(path, { ...init, headers: { ...init.headers, 'Proxy-Authorization': `Bearer ${seeds.keyFor(name)}` } });
  await response.arrayBuffer();
  const seen = seeds.lastSeen(name);
  const [scheme, token] = (seen.value ?? ' ').split(' ');
  console.log(`${(init.method ?? 'GET').padEnd(4)} ${path.padEnd(26)} -> ${response.status}; the origin saw ${seen.path} with '${seen.header}: ${scheme} ${short(token)}'`);
}
const wrongKey = await gateway.dispatchFetch('/apiture/accounts/echo', { headers: { 'Proxy-Authorization': `Bearer ${seeds.keys.ainua}` } });
console.log(`GET  ${"/apiture/ with Ainua's key".padEnd(26)} -> ${wrongKey.status} ${(await wrongKey.json()).error}`);
const noRoute = await gateway.dispatchFetch('/elsewhere/x', { headers: { 'Proxy-Authorization': `Bearer ${seeds.keys.gateway}` } });
console.log(`GET  ${'/elsewhere/x'.padEnd(26)} -> ${noRoute.status} ${(await noRoute.json()).error}`);
console.log(`token requests per route: ${JSON.stringify(seeds.tokenCounts())}`);
await gateway.dispose();
await seeds.close();
