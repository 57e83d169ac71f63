// The Worker as a gateway (ROUTES): the four seed systems behind one Worker in workerd
// (miniflare), each route with its own origin, token endpoint, client, header and keys.
//
//   /ainua/     Keycloak path, realm ncp, client_secret_post, header `Authentication`
//               (a fixture token endpoint replaying the guide; an echo origin)
//   /apiture/   discovery, client_secret_basic, scopes (fixture discovery + token; echo origin)
//   /realm/     a Keycloak realm API: oidc-provider on the Keycloak token path, 5-second JWTs,
//               and an API that verifies them
//   /infolink/  InfoLink's custom path over http, the password grant, refresh tokens, its
//               nested expired-token answer (the InfoLink fixture server, executeJob)
//   /svc/       a service binding to a second Worker in the same workerd

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';

import { startFixtureServer } from '../support/fixture-server.mjs';
import { AINUA, AINUA_TOKEN_PATH, APITURE, REALM, startSeedSystems } from '../support/seed-systems.mjs';
import { ensureWorkerBuilt, readAnswer, startWorker } from '../support/worker-harness.mjs';

// The second Worker behind a service binding: answers with what it saw.
const BACKEND = `export default {
  async fetch(request) {
    const url = new URL(request.url);
    return Response.json({ backend: true, path: url.pathname + url.search, authorization: request.headers.get('authorization') });
  },
};`;

let seeds;
let ainuaIdp;
let apitureIdp;
let infolink;
let ainuaOrigin;
let apitureOrigin;
let realmApi;
let KEYS;
const workers = [];

/** The four seed routes and a service-binding route that takes the realm's client. */
function routes() {
  return [
    ...seeds.routes(),
    {
      prefix: '/svc/',
      service: 'BACKEND',
      tokenUrl: seeds.servers.realmIdp.tokenUrl,
      clientId: REALM.clientId,
      clientSecret: { secret: 'REALM_CLIENT_SECRET' },
      authMethod: 'client_secret_post',
    },
  ];
}

const secrets = () => seeds.secrets;
const tokenCounts = () => seeds.tokenCounts();

async function gateway({ routes: list = routes(), extra = {}, asString = false } = {}) {
  const worker = await startWorker({
    bindings: { ROUTES: asString ? JSON.stringify(list) : list, LOG_LEVEL: 'debug', ...secrets(), ...extra },
    services: { BACKEND },
  });
  workers.push(worker);
  return worker;
}

/** A request with a proxy key; `http: true` sends it over the socket, so that a body arrives
 * with its length (dispatchFetch streams every body, and a streamed body is not replayed). */
async function call(worker, path, key = KEYS.gateway, { http = false, ...init } = {}) {
  const send = http ? worker.fetch : worker.dispatchFetch;
  return readAnswer(await send(path, { ...init, headers: { 'proxy-authorization': `Bearer ${key}`, ...(init.headers ?? {}) } }));
}

/** What the Worker wrote itself, for the leak scan: every answer's headers, and the body of
 * each answer of its own (an error; a proxied body is the origin's, and the echo origins
 * repeat the token they saw). */
const seen = [];
function keep(answer) {
  seen.push(JSON.stringify([...answer.headers]));
  if (answer.json?.code !== undefined) seen.push(answer.text);
  return answer;
}

before(async () => {
  await ensureWorkerBuilt();
  seeds = await startSeedSystems({ realmTtl: 5 });
  ({ ainuaIdp, apitureIdp, infolink, ainuaOrigin, apitureOrigin, realmApi } = seeds.servers);
  KEYS = seeds.keys;
}, { timeout: 240_000 });

after(async () => {
  await Promise.all(workers.map((w) => w.dispose()));
  await seeds?.close();
});

describe('the four seed systems behind one Worker', () => {
  let worker;
  before(async () => {
    worker = await gateway();
  });

  it('each route reaches its own origin with its own header and token', async () => {
    const ainua = keep(await call(worker, '/ainua/v1/sources/echo?x=1', KEYS.ainua));
    assert.equal(ainua.status, 200, ainua.text);
    assert.equal(ainua.json.path, '/ainua-api/v1/sources/echo', 'the prefix is replaced by the origin base');
    assert.equal(ainua.json.query, '?x=1');
    assert.match(ainua.json.headers.authentication, new RegExp(`^Bearer ${AINUA.tokenPrefix}\\d+$`));
    assert.equal(ainua.json.headers.authorization, undefined);
    const ainuaForm = new URLSearchParams(ainuaIdp.requestsFor(AINUA_TOKEN_PATH).at(-1).body);
    assert.equal(ainuaForm.get('grant_type'), 'client_credentials');
    assert.equal(ainuaForm.get('client_id'), AINUA.clientId);
    assert.equal(ainuaForm.get('client_secret'), AINUA.clientSecret, 'client_secret_post');

    const apiture = keep(await call(worker, '/apiture/accounts/echo'));
    assert.equal(apiture.status, 200, apiture.text);
    assert.equal(apiture.json.path, '/accounts/echo');
    assert.match(apiture.json.headers.authorization, new RegExp(`^Bearer ${APITURE.tokenPrefix}\\d+$`));
    const apitureRequest = apitureIdp.requestsFor('/token').at(-1);
    const basic = Buffer.from(`${APITURE.clientId}:${APITURE.clientSecret}`).toString('base64');
    assert.equal(apitureRequest.headers.authorization, `Basic ${basic}`);
    assert.equal(new URLSearchParams(apitureRequest.body).get('scope'), 'banking/read banking/write');
    assert.equal(apitureIdp.count('/.well-known/openid-configuration'), 1);

    const realm = keep(await call(worker, '/realm/echo/items'));
    assert.equal(realm.status, 200, realm.text);
    assert.equal(realm.json.clientId, REALM.clientId, 'the API verified the JWT');
    assert.equal(realm.json.path, '/echo/items');

    const job = keep(await call(worker, '/infolink/executeJob', KEYS.gateway, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ job: 'sync' }),
    }));
    assert.equal(job.status, 200, job.text);
    assert.deepEqual(job.json.result.request, { job: 'sync' });
    assert.equal(infolink.requests.at(-1).grantType, 'password');

    const backend = keep(await call(worker, '/svc/hello?q=1'));
    assert.equal(backend.status, 200, backend.text);
    assert.equal(backend.json.backend, true);
    assert.equal(backend.json.path, '/hello?q=1');
    assert.match(backend.json.authorization, /^Bearer ey/, 'the service binding got a JWT');
  });

  it("InfoLink's nested expired-token answer: the route refreshes through its refresh token and sends once more", async () => {
    const first = keep(await call(worker, '/infolink/executeJob', KEYS.gateway, { method: 'POST', body: '{}' }));
    assert.equal(first.status, 200, first.text);
    const before = infolink.requests.length;
    infolink.expireAllAccessTokens();
    const answer = keep(await call(worker, '/infolink/executeJob', KEYS.gateway, { method: 'POST', body: '{"again":true}', http: true }));
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(answer.json.result.request, { again: true });
    assert.match(answer.headers.get('server-timing'), /desc="refresh";route="\/infolink\/"/);
    assert.deepEqual(infolink.requests.slice(before).map((r) => r.grantType), ['refresh_token']);
    assert.equal(infolink.expiredJobRequests, 1, 'the origin refused the expired token once');
    assert.equal(seeds.lastSeen('infolink').value, `Bearer ${[...infolink.log].reverse().find((l) => l.includes('executeJob')).split('authorization=Bearer ')[1].split(' ')[0]}`);
  });

  it('Server-Timing and the debug log name the route', async () => {
    const answer = keep(await call(worker, '/apiture/x/echo'));
    assert.match(answer.headers.get('server-timing'), /^token;dur=[\d.]+;desc="cache";route="\/apiture\/"$/);
    await worker.waitForLogs(1);
    const lines = worker.logs.map((l) => l.message).filter((l) => l.includes('"edgeOauth"'));
    assert.ok(lines.some((l) => JSON.parse(l).route === '/apiture/' && JSON.parse(l).path === '/apiture/x/echo'), lines.join('\n'));
  });

  it('a key for one route is refused on another, and the origin is not contacted', async () => {
    const before = { ainua: ainuaOrigin.requests.length, apiture: apitureOrigin.requests.length };
    const onApiture = keep(await call(worker, '/apiture/echo', KEYS.ainua));
    assert.equal(onApiture.status, 401, onApiture.text);
    assert.equal(onApiture.json.code, 'unauthorized');
    const onAinua = keep(await call(worker, '/ainua/echo', KEYS.gateway));
    assert.equal(onAinua.status, 401, onAinua.text);
    assert.deepEqual({ ainua: ainuaOrigin.requests.length, apiture: apitureOrigin.requests.length }, before);
  });

  it('a path no route serves gets a 404 in JSON; no origin and no token endpoint is contacted', async () => {
    const tokens = tokenCounts();
    const origins = ainuaOrigin.requests.length + apitureOrigin.requests.length + realmApi.requests.length;
    for (const path of ['/', '/ainua', '/unknown/x', '/apiturex/y']) {
      const answer = keep(await call(worker, path));
      assert.equal(answer.status, 404, `${path}: ${answer.text}`);
      assert.equal(answer.json.code, 'no_route');
    }
    assert.deepEqual(tokenCounts(), tokens);
    assert.equal(ainuaOrigin.requests.length + apitureOrigin.requests.length + realmApi.requests.length, origins);
  });

  it('the realm route stays fresh through 5-second JWTs while the others keep their tokens', async () => {
    const before = tokenCounts();
    const deadline = Date.now() + 7_000;
    while (Date.now() < deadline) {
      const answer = keep(await call(worker, '/realm/echo/x'));
      assert.equal(answer.status, 200, answer.text);
      await new Promise((r) => setTimeout(r, 250));
    }
    const after = tokenCounts();
    assert.ok(after.realm - before.realm >= 1, 'the realm route renewed its 5-second token');
    assert.equal(after.ainua, before.ainua);
    assert.equal(after.apiture, before.apiture);
  });
});

describe('each route its own single flight', () => {
  it('200 concurrent cold requests over four routes make exactly one token request per route', async () => {
    const worker = await gateway({ asString: true });
    const before = tokenCounts();
    const paths = ['/ainua/echo', '/apiture/echo', '/realm/echo/a', '/infolink/executeJob'];
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => {
      const path = paths[i % 4];
      const init = path.startsWith('/infolink/') ? { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } } : {};
      return call(worker, path, path.startsWith('/ainua/') ? KEYS.ainua : KEYS.gateway, init);
    }));
    for (const answer of answers) assert.equal(answer.status, 200, answer.text);
    const after = tokenCounts();
    assert.deepEqual(
      Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - before[k]])),
      { ainua: 1, apiture: 1, realm: 1, infolink: 1 },
    );
  });

  it('one route whose token endpoint hangs does not slow the others', async () => {
    const hanging = await startFixtureServer();
    try {
      hanging.script('/token', [{ hang: true }]);
      const list = routes();
      list.push({
        prefix: '/down/', origin: ainuaOrigin.url, tokenUrl: `${hanging.url}/token`, clientId: 'x',
        clientSecret: { secret: 'AINUA_CLIENT_SECRET' }, timeoutMs: 20_000, maxWaitMs: 20_000, maxRetries: 0,
      });
      const worker = await gateway({ routes: list });
      const stuck = call(worker, '/down/echo').catch(() => {});
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(hanging.count('/token'), 1, 'the down route is waiting on its token endpoint');
      const started = Date.now();
      const answers = await Promise.all([
        call(worker, '/apiture/echo'), call(worker, '/realm/echo/b'), call(worker, '/ainua/echo', KEYS.ainua),
      ]);
      const took = Date.now() - started;
      for (const answer of answers) assert.equal(answer.status, 200, answer.text);
      // The hang lasts 20 s; the other routes answer while it lasts.
      assert.ok(took < 5_000, `the other routes took ${took} ms`);
      assert.equal(hanging.count('/token'), 1);
      await worker.dispose();
      await stuck;
    } finally {
      await hanging.close();
    }
  });
});

describe('configuration errors answer 500 naming the route and the field, quoting no value', () => {
  const cases = [
    ['an inline secret', (list) => { list[1].clientSecret = 'inline-secret-Jk88'; }, 'ROUTES /apiture/', 'clientSecret'],
    ['an unknown field', (list) => { list[0].audiences = 'x'; }, 'ROUTES /ainua/', 'audiences'],
    ['two routes with one prefix', (list) => { list[2].prefix = '/ainua/'; }, 'ROUTES /ainua/', 'prefix'],
    ['a missing secret binding', (list) => { list[3].clientSecret = { secret: 'NOT_BOUND_SECRET' }; }, 'ROUTES /infolink/', 'clientSecret'],
    ['a password inline', (list) => { list[3].grant.password = 'inline-pass-Wq31'; }, 'ROUTES /infolink/', 'grant.password'],
    ['keys naming no secret', (list) => { list[1].keys = 'NO_SUCH_KEYS'; }, 'ROUTES /apiture/', 'keys'],
  ];
  for (const [what, change, route, field] of cases) {
    it(what, async () => {
      const list = routes();
      change(list);
      const worker = await gateway({ routes: list });
      const tokens = tokenCounts();
      const answer = keep(await call(worker, '/apiture/echo'));
      assert.equal(answer.status, 500, answer.text);
      assert.equal(answer.json.code, 'config');
      assert.ok(answer.json.message.includes(route), answer.text);
      assert.ok(answer.json.message.includes(field), answer.text);
      for (const value of ['inline-secret-Jk88', 'inline-pass-Wq31', 'NOT_BOUND_SECRET', 'NO_SUCH_KEYS']) {
        assert.ok(!answer.text.includes(value), `the answer quotes ${value}: ${answer.text}`);
      }
      assert.deepEqual(tokenCounts(), tokens, 'no token request');
      await worker.dispose();
    });
  }

  it('ROUTES that is not JSON, and ROUTES beside ORIGIN_URL', async () => {
    let worker = await startWorker({ bindings: { ROUTES: '[{ not json', ...secrets() } });
    workers.push(worker);
    let answer = keep(await call(worker, '/x'));
    assert.equal(answer.status, 500);
    assert.match(answer.json.message, /ROUTES must be a JSON array/);
    worker = await gateway({ extra: { ORIGIN_URL: 'https://api.example.com' } });
    answer = keep(await call(worker, '/apiture/echo'));
    assert.equal(answer.status, 500);
    assert.match(answer.json.message, /ROUTES is set, and so is ORIGIN_URL/);
  });
});

describe("the README's ROUTES", () => {
  it('the wrangler.toml example of the four vendor systems is a valid configuration', async () => {
    // wrangler turns [[vars.ROUTES]] into a JSON array; Python's tomllib reads TOML the same way.
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const toml = /```toml\n(\[\[vars\.ROUTES\]\][\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(toml, 'the README has a [[vars.ROUTES]] example');
    const json = execFileSync('python3', ['-c', 'import json, sys, tomllib; print(json.dumps(tomllib.loads(sys.stdin.read())))'], { input: toml, encoding: 'utf8' });
    const list = JSON.parse(json).vars.ROUTES;
    assert.deepEqual(list.map((r) => r.prefix), ['/ainua/', '/apiture/', '/realm/', '/infolink/']);
    const worker = await gateway({
      routes: list,
      extra: { INFOLINK_CLIENT_SECRET: 'x-secret-1', INFOLINK_PASSWORD: 'x-secret-2' },
    });
    // A path no route serves: 404, not the 500 of a configuration error.
    const answer = keep(await call(worker, '/none/'));
    assert.equal(answer.status, 404, answer.text);
    await worker.dispose();
  });
});

describe('no secret or token in any answer or log line', () => {
  it('scans everything the gateway tests saw', () => {
    const logs = workers.flatMap((w) => w.logs.map((l) => l.message));
    const tokens = [
      ...ainuaOrigin.requests.map((r) => r.headers.authentication),
      ...apitureOrigin.requests.map((r) => r.headers.authorization),
      ...realmApi.requests.map((r) => r.headers.authorization),
      ...infolink.log.map((l) => /authorization=(Bearer \S+)/.exec(l)?.[1]),
      ...infolink.log.map((l) => /refresh_token=([^&\s]+)/.exec(l)?.[1]),
    ].filter(Boolean).map((h) => h.replace(/^Bearer /, ''));
    for (const route of ['ainua', 'apiture', 'realm', 'infolink']) {
      assert.ok(seeds.lastSeen(route).value, `a token of ${route} is among the needles`);
    }
    const needles = [...Object.values(secrets()), ...tokens, 'inline-secret-Jk88', 'inline-pass-Wq31'];
    assert.ok(seen.length > 20 && logs.length > 10, `${seen.length} answer texts, ${logs.length} log lines`);
    for (const text of [...seen, ...logs]) {
      for (const needle of needles) assert.ok(!text.includes(needle), `a secret or token leaked: ${text.slice(0, 300)}`);
    }
  });
});
