// End-to-end failure handling of the built package (pkg/node.js): unreachable and hanging
// servers, scripted faults (tests/support/fixture-server.mjs), stale-if-error, AbortSignal,
// configuration errors and the custom fetch option.
// Run: node --test tests/e2e/resilience.test.mjs
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';

import { TokenClient, TokenError } from '../../pkg/node.js';
import { closedPortUrl, startHangingServer } from '../support/auth-server.mjs';
import {
  assertNoLeak,
  countingFetch,
  jwtPayload,
  rejectsWith,
  sleep,
  throwsConfig,
  unsignedJwt,
  waitFor,
} from '../support/e2e-helpers.mjs';
import { startFixtureServer } from '../support/fixture-server.mjs';
import { mockClock, scriptedFetch, settled } from '../support/mock-clock.mjs';

const SECRET = 'fixture-secret-Hq47Lm';
const ID = 'fixture-client';
const TOKEN_PATH = '/token';

const okBody = (accessToken, extra = {}) => ({ access_token: accessToken, token_type: 'Bearer', expires_in: 300, ...extra });

describe('unreachable and slow servers', () => {
  it("a closed port → 'network' (retried: 1 + maxRetries attempts)", async () => {
    const url = `${await closedPortUrl()}/token`;
    const counting = countingFetch();
    const client = new TokenClient({ tokenUrl: url, clientId: ID, clientSecret: SECRET, maxRetries: 2, fetch: counting.fetch });
    const err = await rejectsWith(client.getToken(), TokenError, 'network', { status: undefined, retryable: true });
    assert.equal(counting.calls.length, 3, 'network errors are retried maxRetries times');
    assert.equal(client.stats().tokenRequests, 3);
    assert.equal(client.stats().failures, 1);
    assertNoLeak({ error: err, stats: client.stats(), secrets: [SECRET] });
  });

  // When they give up is asserted on a controllable clock ('on a controllable clock' below);
  // here, that a real socket that never answers ends that way.
  it("a hanging server → 'timeout'", async () => {
    const hanging = await startHangingServer();
    try {
      const client = new TokenClient({ tokenUrl: `${hanging.url}/token`, clientId: ID, clientSecret: SECRET, timeoutMs: 300, maxRetries: 0 });
      await rejectsWith(client.getToken(), TokenError, 'timeout', { retryable: true, status: undefined });
      assert.equal(hanging.connections, 1);
    } finally {
      await hanging.close();
    }
  });

  it('timeouts are retried, each attempt with its own timeout', async () => {
    const hanging = await startHangingServer();
    try {
      const client = new TokenClient({ tokenUrl: `${hanging.url}/token`, clientId: ID, clientSecret: SECRET, timeoutMs: 200, maxRetries: 1 });
      await rejectsWith(client.getToken(), TokenError, 'timeout');
      assert.equal(hanging.connections, 2);
      assert.equal(client.stats().tokenRequests, 2);
    } finally {
      await hanging.close();
    }
  });
});

describe('scripted responses (fixture server)', () => {
  let fx;
  let tokenUrl;
  before(async () => {
    fx = await startFixtureServer();
    tokenUrl = `${fx.url}${TOKEN_PATH}`;
  });
  after(async () => {
    await fx?.close();
  });
  beforeEach(() => fx.reset());

  const make = (options = {}) => new TokenClient({ tokenUrl, clientId: ID, clientSecret: SECRET, ...options });

  describe('retries', () => {
    it('503 then 200 → retried once, success, 2 requests', async () => {
      fx.script(TOKEN_PATH, [
        { status: 503, body: { error: 'temporarily_unavailable' } },
        { status: 200, body: okBody('tok-after-503') },
      ]);
      const client = make();
      assert.equal(await client.getToken(), 'tok-after-503');
      assert.equal(fx.count(TOKEN_PATH), 2);
      assert.deepEqual(client.stats(), { tokenRequests: 2, cacheHits: 0, refreshes: 0, failures: 0 });
    });

    it('408 and 500 are retried too', async () => {
      fx.script(TOKEN_PATH, [
        { status: 408, body: '' },
        { status: 500, body: { error: 'server_error' } },
        { status: 200, body: okBody('tok-after-408-500') },
      ]);
      const client = make();
      assert.equal(await client.getToken(), 'tok-after-408-500');
      assert.equal(fx.count(TOKEN_PATH), 3);
    });

    it('gives up after maxRetries retries with the last error', async () => {
      fx.script(TOKEN_PATH, { status: 500, body: { error: 'server_error', error_description: 'down' } });
      const client = make({ maxRetries: 2 });
      const err = await rejectsWith(client.getToken(), TokenError, 'server_error', { status: 500, description: 'down', retryable: true });
      assert.equal(fx.count(TOKEN_PATH), 3);
      assert.deepEqual(client.stats(), { tokenRequests: 3, cacheHits: 0, refreshes: 0, failures: 1 });
      assertNoLeak({ error: err, stats: client.stats(), secrets: [SECRET] });
    });

    it('maxRetries 0 → exactly one attempt', async () => {
      fx.script(TOKEN_PATH, { status: 503, body: { error: 'temporarily_unavailable' } });
      const client = make({ maxRetries: 0 });
      await rejectsWith(client.getToken(), TokenError, 'temporarily_unavailable', { status: 503 });
      assert.equal(fx.count(TOKEN_PATH), 1);
    });

    for (const [status, error] of [[400, 'invalid_request'], [401, 'invalid_client'], [403, 'unauthorized_client'], [404, 'not_found']]) {
      it(`${status} ${error} is never retried (1 request)`, async () => {
        fx.script(TOKEN_PATH, [
          { status, body: { error, error_description: `desc ${error}`, error_uri: 'https://errors.example/x' } },
          { status: 200, body: okBody('never-reached') },
        ]);
        const client = make({ maxRetries: 3 });
        await rejectsWith(client.getToken(), TokenError, error, {
          status,
          description: `desc ${error}`,
          uri: 'https://errors.example/x',
          retryable: false,
        });
        assert.equal(fx.count(TOKEN_PATH), 1);
        assert.equal(client.stats().tokenRequests, 1);
      });
    }
  });

  describe('unusable responses', () => {
    it('an HTML 502 → invalid_response with status and content type, never the body', async () => {
      const marker = 'UPSTREAM-SECRET-PAGE-TEXT-7731';
      const html = `<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1><p>${marker}</p></body></html>`;
      fx.script(TOKEN_PATH, { status: 502, headers: { 'content-type': 'text/html; charset=utf-8' }, body: html });
      const client = make({ maxRetries: 0 });
      const err = await rejectsWith(client.getToken(), TokenError, 'invalid_response', { status: 502, retryable: true });
      assert.match(err.message, /502/);
      assert.match(err.message, /text\/html/);
      for (const text of [err.message, String(err), err.stack, JSON.stringify(err)]) {
        assert.ok(!text.includes(marker), `the body leaked: ${text}`);
        assert.ok(!text.includes('<html') && !text.includes('<h1>'), `HTML leaked: ${text}`);
      }
      assert.equal(fx.count(TOKEN_PATH), 1);
    });

    it('an HTML 502 is retried like any 5xx', async () => {
      fx.script(TOKEN_PATH, [
        { status: 502, headers: { 'content-type': 'text/html' }, body: '<html><body>Bad Gateway</body></html>' },
        { status: 200, body: okBody('tok-after-html') },
      ]);
      const client = make();
      assert.equal(await client.getToken(), 'tok-after-html');
      assert.equal(fx.count(TOKEN_PATH), 2);
    });

    it('an HTML 200 (a login page) → invalid_response, not retried', async () => {
      fx.script(TOKEN_PATH, { status: 200, headers: { 'content-type': 'text/html' }, body: '<html><body>Please sign in LOGIN-PAGE-42</body></html>' });
      const client = make();
      const err = await rejectsWith(client.getToken(), TokenError, 'invalid_response', { status: 200, retryable: false });
      assert.match(err.message, /text\/html/);
      assert.ok(!err.message.includes('LOGIN-PAGE-42'));
      assert.equal(fx.count(TOKEN_PATH), 1);
    });

    it('an empty 200 body → invalid_response', async () => {
      fx.script(TOKEN_PATH, { status: 200, headers: { 'content-type': 'application/json' }, body: '' });
      const client = make();
      const err = await rejectsWith(client.getToken(), TokenError, 'invalid_response', { status: 200 });
      assert.match(err.message, /200/);
      assert.match(err.message, /application\/json/);
      assert.equal(fx.count(TOKEN_PATH), 1);
    });

    it('a 200 carrying {"error":"invalid_scope"} → code invalid_scope', async () => {
      fx.script(TOKEN_PATH, { status: 200, body: { error: 'invalid_scope', error_description: 'scope x is unknown' } });
      const client = make({ scope: 'x' });
      await rejectsWith(client.getToken(), TokenError, 'invalid_scope', { status: 200, description: 'scope x is unknown', retryable: false });
      assert.equal(fx.count(TOKEN_PATH), 1);
    });

    it('refused token responses never put the token into the error', async () => {
      const leaked = 'LEAKY-ACCESS-TOKEN-5521';
      const cases = [
        { status: 200, body: { access_token: leaked, token_type: 'Bearer', expires_in: 'soon' } },
        { status: 200, body: { access_token: leaked, token_type: 42, expires_in: 60 } },
        { status: 200, body: `{"access_token":"${leaked}", "expires_in": 60` }, // truncated JSON
        { status: 500, body: { access_token: leaked } }, // success fields on an error status
      ];
      for (const response of cases) {
        fx.reset();
        fx.script(TOKEN_PATH, response);
        const client = make({ maxRetries: 0 });
        const err = await rejectsWith(client.getToken(), TokenError, 'invalid_response', { status: response.status });
        assertNoLeak({ error: err, stats: client.stats(), secrets: [leaked, SECRET] });
      }
    });
  });

  describe('single flight and failures', () => {
    it('a failure rejects every concurrent waiter with the same error; the next call tries again', async () => {
      fx.script(TOKEN_PATH, { status: 400, delayMs: 150, body: { error: 'invalid_request', error_description: 'nope' } });
      const client = make();
      const results = await Promise.allSettled(Array.from({ length: 50 }, () => client.getToken()));
      assert.equal(fx.count(TOKEN_PATH), 1, 'one request for all waiters');
      assert.ok(results.every((r) => r.status === 'rejected'));
      const first = results[0].reason;
      assert.ok(first instanceof TokenError);
      assert.equal(first.code, 'invalid_request');
      for (const r of results) {
        assert.equal(r.reason.code, first.code);
        assert.equal(r.reason.status, 400);
        assert.equal(r.reason.message, first.message);
      }
      assert.equal(client.stats().failures, 1);
      assert.ok(first.retryAfter >= 1, 'a cooldown starts');

      // No poisoning: once the cooldown is over, the failure is not cached.
      await sleep(first.retryAfter * 1000);
      fx.script(TOKEN_PATH, { status: 200, delayMs: 50, body: okBody('tok-after-failure') });
      const tokens = await Promise.all(Array.from({ length: 20 }, () => client.getToken()));
      assert.deepEqual(new Set(tokens), new Set(['tok-after-failure']));
      assert.equal(fx.count(TOKEN_PATH), 2);
      assert.deepEqual(client.stats(), { tokenRequests: 2, cacheHits: 0, refreshes: 0, failures: 1 });
    });

    it('sends a form-encoded client_credentials POST with basic auth by default', async () => {
      fx.script(TOKEN_PATH, { status: 200, body: okBody('tok-form') });
      const client = make({ scope: ['a', 'b'], extraParams: { audience: 'https://api.example' } });
      await client.getToken();
      const [req] = fx.requestsFor(TOKEN_PATH);
      assert.equal(req.method, 'POST');
      assert.match(req.headers['content-type'], /^application\/x-www-form-urlencoded/);
      const form = new URLSearchParams(req.body);
      assert.equal(form.get('grant_type'), 'client_credentials');
      assert.equal(form.get('scope'), 'a b');
      assert.equal(form.get('audience'), 'https://api.example');
      assert.equal(form.get('client_secret'), null);
      const basic = Buffer.from(req.headers.authorization.replace(/^Basic /, ''), 'base64').toString();
      assert.equal(basic, `${ID}:${SECRET}`);
    });
  });

  describe('discovery (fixture)', () => {
    const OIDC = '/.well-known/openid-configuration';
    const RFC8414 = '/.well-known/oauth-authorization-server';

    it('falls back to /.well-known/oauth-authorization-server when the OpenID document is missing', async () => {
      fx.script(OIDC, { status: 404, body: { error: 'not_found' } });
      fx.script(RFC8414, { status: 200, body: { issuer: fx.url, token_endpoint: tokenUrl } });
      fx.script(TOKEN_PATH, { status: 200, body: okBody('tok-rfc8414') });
      const client = new TokenClient({ issuer: fx.url, clientId: ID, clientSecret: SECRET });
      assert.equal(await client.getToken(), 'tok-rfc8414');
      assert.equal(fx.count(OIDC), 1);
      assert.equal(fx.count(RFC8414), 1);
      assert.equal(fx.count(TOKEN_PATH), 1);
    });

    it('uses client_secret_post when the metadata lists only that method and none was chosen', async () => {
      fx.script(OIDC, { status: 200, body: { issuer: fx.url, token_endpoint: tokenUrl, token_endpoint_auth_methods_supported: ['client_secret_post'] } });
      fx.script(TOKEN_PATH, { status: 200, body: okBody('tok-post-by-metadata') });
      const client = new TokenClient({ issuer: fx.url, clientId: ID, clientSecret: SECRET });
      assert.equal(await client.getToken(), 'tok-post-by-metadata');
      const [req] = fx.requestsFor(TOKEN_PATH);
      assert.equal(req.headers.authorization, undefined);
      const form = new URLSearchParams(req.body);
      assert.equal(form.get('client_id'), ID);
      assert.equal(form.get('client_secret'), SECRET);
    });

    it('a failed discovery is not cached: the next call discovers again', async () => {
      fx.script(OIDC, [
        { status: 200, headers: { 'content-type': 'text/html' }, body: '<html>maintenance DISCOVERY-PAGE</html>' },
        { status: 200, body: { issuer: fx.url, token_endpoint: tokenUrl } },
      ]);
      fx.script(TOKEN_PATH, { status: 200, body: okBody('tok-after-discovery-failure') });
      const client = new TokenClient({ issuer: fx.url, clientId: ID, clientSecret: SECRET });
      const err = await rejectsWith(client.getToken(), TokenError, 'invalid_response', { status: 200 });
      assert.ok(!err.message.includes('DISCOVERY-PAGE'));
      assert.equal(fx.count(TOKEN_PATH), 0);
      await sleep(err.retryAfter * 1000);
      assert.equal(await client.getToken(), 'tok-after-discovery-failure');
      assert.equal(fx.count(OIDC), 2);
      assert.equal(fx.count(TOKEN_PATH), 1);
    });
  });

  describe('token types', () => {
    it("a DPoP token type is reported and used in authorizationHeader()", async () => {
      fx.script(TOKEN_PATH, { status: 200, body: { access_token: 'tok-dpop', token_type: 'DPoP', expires_in: 60 } });
      const client = make();
      assert.equal((await client.getTokenInfo()).tokenType, 'DPoP');
      assert.deepEqual(await client.authorizationHeader(), ['Authorization', 'DPoP tok-dpop']);
    });
  });

  describe('expiry', () => {
    it('no expires_in: the JWT exp is used', async () => {
      const exp = Math.floor(Date.now() / 1000) + 90;
      const jwt = unsignedJwt({ sub: 'x', exp });
      fx.script(TOKEN_PATH, { status: 200, body: { access_token: jwt, token_type: 'Bearer' } });
      const info = await make().getTokenInfo();
      assert.equal(info.accessToken, jwt);
      assert.equal(info.expiresAt, exp * 1000);
    });

    it('a JWT exp earlier than expires_in wins', async () => {
      const exp = Math.floor(Date.now() / 1000) + 90;
      const jwt = unsignedJwt({ sub: 'x', exp });
      fx.script(TOKEN_PATH, { status: 200, body: { access_token: jwt, token_type: 'Bearer', expires_in: 3600 } });
      const info = await make().getTokenInfo();
      assert.equal(info.expiresAt, exp * 1000);
    });

    it('an expires_in earlier than the JWT exp wins', async () => {
      const jwt = unsignedJwt({ sub: 'x', exp: Math.floor(Date.now() / 1000) + 3600 });
      fx.script(TOKEN_PATH, { status: 200, body: { access_token: jwt, token_type: 'Bearer', expires_in: 60 } });
      const before = Date.now();
      const info = await make().getTokenInfo();
      assert.ok(info.expiresAt >= before + 60_000 && info.expiresAt <= Date.now() + 60_000, `expiresAt ${info.expiresAt}`);
    });

    it('neither expires_in nor a JWT: defaultExpiresInSeconds', async () => {
      fx.script(TOKEN_PATH, { status: 200, body: { access_token: 'opaque-no-ttl', token_type: 'Bearer' } });
      const before = Date.now();
      const info = await make({ defaultExpiresInSeconds: 42 }).getTokenInfo();
      assert.ok(info.expiresAt >= before + 42_000 && info.expiresAt <= Date.now() + 42_000, `expiresAt ${info.expiresAt}`);
    });
  });

  describe('AbortSignal', () => {
    it('two callers with signals: the one that aborts leaves, the other still gets the token', async () => {
      fx.script(TOKEN_PATH, { status: 200, delayMs: 300, body: okBody('tok-two-signals') });
      const client = make();
      const c1 = new AbortController();
      const c2 = new AbortController();
      const stays = client.getToken({ signal: c1.signal }); // this one started the flight
      const leaves = client.getToken({ signal: c2.signal });
      setTimeout(() => c2.abort(), 30);
      await rejectsWith(leaves, TokenError, 'aborted');
      assert.equal(await stays, 'tok-two-signals');
      assert.equal(fx.count(TOKEN_PATH), 1);
      assert.equal(await client.getToken(), 'tok-two-signals', 'the token was cached');
      assert.equal(fx.count(TOKEN_PATH), 1);
    });

    it('an aborted caller of getTokenInfo / authorizationHeader also gets aborted', async () => {
      fx.script(TOKEN_PATH, { status: 200, delayMs: 300, body: okBody('tok-info-abort') });
      const client = make();
      const c1 = new AbortController();
      const c2 = new AbortController();
      const p1 = client.getTokenInfo({ signal: c1.signal });
      const p2 = client.authorizationHeader({ signal: c2.signal });
      const p3 = client.getToken();
      c1.abort();
      c2.abort();
      await rejectsWith(p1, TokenError, 'aborted');
      await rejectsWith(p2, TokenError, 'aborted');
      assert.equal(await p3, 'tok-info-abort');
    });

    it('a single aborted caller cancels the request (the server sees the connection close)', async () => {
      let requests = 0;
      let closedConnections = 0;
      const hang = http.createServer((req, res) => {
        requests += 1;
        req.resume();
        res.on('close', () => { closedConnections += 1; });
      });
      hang.listen(0, '127.0.0.1');
      await once(hang, 'listening');
      try {
        const client = new TokenClient({ tokenUrl: `http://127.0.0.1:${hang.address().port}/token`, clientId: ID, clientSecret: SECRET, timeoutMs: 5000 });
        const controller = new AbortController();
        const p = client.getToken({ signal: controller.signal });
        await waitFor(() => requests === 1, 2000, 'the request to arrive');
        controller.abort();
        await rejectsWith(p, TokenError, 'aborted');
        await waitFor(() => closedConnections === 1, 2000, 'the client to close the connection');
        await sleep(300);
        assert.equal(requests, 1, 'no retry after the cancel');
        assert.equal(client.stats().tokenRequests, 1);
      } finally {
        hang.closeAllConnections();
        hang.close();
        await once(hang, 'close');
      }
    });

    it('after a cancelled request the next call starts a new one', async () => {
      fx.script(TOKEN_PATH, [{ hang: true }, { status: 200, body: okBody('tok-after-cancel') }]);
      const client = make({ timeoutMs: 5000 });
      const controller = new AbortController();
      const p = client.getToken({ signal: controller.signal });
      await waitFor(() => fx.count(TOKEN_PATH) === 1, 2000, 'the first request');
      controller.abort();
      await rejectsWith(p, TokenError, 'aborted');
      assert.equal(await client.getToken(), 'tok-after-cancel');
      assert.equal(fx.count(TOKEN_PATH), 2);
    });

    it('an already-aborted signal rejects at once, with no request', async () => {
      fx.script(TOKEN_PATH, { status: 200, body: okBody('tok-never') });
      const client = make();
      const signal = AbortSignal.abort();
      await rejectsWith(client.getToken({ signal }), TokenError, 'aborted');
      await rejectsWith(client.getTokenInfo({ signal }), TokenError, 'aborted');
      await rejectsWith(client.authorizationHeader({ signal }), TokenError, 'aborted');
      await sleep(50);
      assert.equal(fx.count(TOKEN_PATH), 0);
      assert.equal(client.stats().tokenRequests, 0);
    });

    it('an already-aborted signal rejects even when a fresh token is cached', async () => {
      fx.script(TOKEN_PATH, { status: 200, body: okBody('tok-cached') });
      const client = make();
      assert.equal(await client.getToken(), 'tok-cached');
      await rejectsWith(client.getToken({ signal: AbortSignal.abort() }), TokenError, 'aborted');
    });
  });

  describe('custom fetch', () => {
    it('the fetch option is used for every request', async () => {
      fx.script(TOKEN_PATH, [{ status: 503, body: { error: 'temporarily_unavailable' } }, { status: 200, body: okBody('tok-custom-fetch') }]);
      const counting = countingFetch();
      const client = make({ fetch: counting.fetch });
      assert.equal(await client.getToken(), 'tok-custom-fetch');
      assert.equal(await client.getToken(), 'tok-custom-fetch');
      assert.equal(counting.calls.length, 2, 'one call per attempt, none for the cache hit');
      assert.equal(counting.calls[0].url, tokenUrl);
      assert.equal(fx.count(TOKEN_PATH), 2);
    });

    it('a fetch that never touches the network is enough (https URL, no server)', async () => {
      const jwt = unsignedJwt({ exp: Math.floor(Date.now() / 1000) + 600 });
      const seen = [];
      const fakeFetch = async (input, init) => {
        seen.push({ url: String(input), method: init?.method, body: String(init?.body) });
        return new Response(JSON.stringify({ access_token: jwt, token_type: 'bearer', expires_in: 600 }), {
          status: 200,
          headers: { 'content-type': 'application/json' },
        });
      };
      const client = new TokenClient({ tokenUrl: 'https://auth.example.invalid/oauth/token', clientId: ID, clientSecret: SECRET, fetch: fakeFetch });
      const [name, value] = await client.authorizationHeader();
      assert.equal(name, 'Authorization');
      assert.equal(value, `Bearer ${jwt}`);
      assert.equal(seen.length, 1);
      assert.equal(seen[0].url, 'https://auth.example.invalid/oauth/token');
      assert.equal(seen[0].method, 'POST');
      assert.equal(new URLSearchParams(seen[0].body).get('grant_type'), 'client_credentials');
      assert.equal(jwtPayload(await client.getToken()).exp * 1000 > Date.now(), true);
    });

    it("a fetch that throws → 'network'", async () => {
      let calls = 0;
      const client = new TokenClient({
        tokenUrl: 'https://auth.example.invalid/token',
        clientId: ID,
        clientSecret: SECRET,
        maxRetries: 1,
        fetch: async () => { calls += 1; throw new TypeError('fetch failed'); },
      });
      const err = await rejectsWith(client.getToken(), TokenError, 'network');
      assert.equal(calls, 2);
      assertNoLeak({ error: err, secrets: [SECRET] });
    });
  });
});

describe('invalid options → TokenError code config, from the constructor', () => {
  const base = { tokenUrl: 'https://auth.example.com/token', clientId: ID, clientSecret: SECRET };
  const cases = [
    ['missing clientId', { tokenUrl: base.tokenUrl, clientSecret: SECRET }, ['clientId']],
    ['empty clientId', { ...base, clientId: '' }, ['clientId']],
    ['clientId of the wrong type', { ...base, clientId: 42 }, ['clientId']],
    ['no endpoint', { clientId: ID, clientSecret: SECRET }, ['tokenUrl', 'issuer', 'keycloak']],
    ['two endpoints', { ...base, issuer: 'https://auth.example.com' }, ['tokenUrl', 'issuer']],
    ['three endpoints', { ...base, issuer: 'https://auth.example.com', keycloak: { baseUrl: 'https://kc.example.com', realm: 'r' } }, ['tokenUrl', 'issuer']],
    ['http to a non-loopback host', { ...base, tokenUrl: 'http://auth.example.com/token' }, ['tokenUrl', 'allowInsecureHttp']],
    ['http issuer to a non-loopback host', { issuer: 'http://auth.example.com', clientId: ID, clientSecret: SECRET }, ['issuer', 'allowInsecureHttp']],
    ['a relative tokenUrl', { ...base, tokenUrl: '/token' }, ['tokenUrl']],
    ['unknown option name', { ...base, tokenURL: 'https://x.example/token' }, ['tokenURL']],
    ['a misspelt option', { ...base, refreshAheadSecs: 5 }, ['refreshAheadSecs']],
    ['timeoutMs as a string', { ...base, timeoutMs: '1000' }, ['timeoutMs']],
    ['negative timeoutMs', { ...base, timeoutMs: -1 }, ['timeoutMs']],
    ['maxRetries fractional', { ...base, maxRetries: 1.5 }, ['maxRetries']],
    ['maxRetries negative', { ...base, maxRetries: -1 }, ['maxRetries']],
    ['refreshAheadSeconds negative', { ...base, refreshAheadSeconds: -5 }, ['refreshAheadSeconds']],
    ['expiryMarginSeconds NaN', { ...base, expiryMarginSeconds: Number.NaN }, ['expiryMarginSeconds']],
    ['defaultExpiresInSeconds zero', { ...base, defaultExpiresInSeconds: 0 }, ['defaultExpiresInSeconds']],
    ['scope of the wrong type', { ...base, scope: 42 }, ['scope']],
    ['scope array with a non-string', { ...base, scope: ['a', 1] }, ['scope']],
    ['unknown authMethod', { ...base, authMethod: 'private_key_jwt' }, ['authMethod']],
    ['headerName with a space', { ...base, headerName: 'Bad Header' }, ['headerName']],
    ['fetch not a function', { ...base, fetch: 'fetch' }, ['fetch']],
    ['allowInsecureHttp not a boolean', { ...base, allowInsecureHttp: 'yes' }, ['allowInsecureHttp']],
    ['keycloak without realm', { clientId: ID, clientSecret: SECRET, keycloak: { baseUrl: 'https://kc.example.com' } }, ['realm']],
    ['keycloak not an object', { clientId: ID, clientSecret: SECRET, keycloak: 'https://kc.example.com' }, ['keycloak']],
    ['extraParams overriding grant_type', { ...base, extraParams: { grant_type: 'password' } }, ['grant_type']],
    ['extraParams with a non-string value', { ...base, extraParams: { audience: 5 } }, ['extraParams']],
    ['missing clientSecret', { tokenUrl: base.tokenUrl, clientId: ID }, ['clientSecret']],
    ['credentials in the URL', { ...base, tokenUrl: `https://user:${SECRET}@auth.example.com/token` }, ['tokenUrl']],
  ];

  for (const [name, options, mentions, todo] of cases) {
    it(`${name} → config naming ${mentions.join(', ')}`, { todo }, () => {
      const err = throwsConfig(() => new TokenClient(options), TokenError);
      for (const word of mentions) assert.ok(err.message.includes(word), `message names ${word}: ${err.message}`);
      assert.equal(err.retryable, false);
      assertNoLeak({ error: err, secrets: [SECRET] });
    });
  }

  it('no options at all → config', () => {
    throwsConfig(() => new TokenClient(), TokenError);
    throwsConfig(() => new TokenClient(null), TokenError);
    throwsConfig(() => new TokenClient('https://auth.example.com/token'), TokenError);
  });

  it('http to a non-loopback host is allowed with allowInsecureHttp: true; loopback http needs no opt-in', () => {
    assert.ok(new TokenClient({ ...base, tokenUrl: 'http://auth.example.com/token', allowInsecureHttp: true }) instanceof TokenClient);
    assert.ok(new TokenClient({ ...base, tokenUrl: 'http://127.0.0.1:8080/token' }) instanceof TokenClient);
    assert.ok(new TokenClient({ ...base, tokenUrl: 'http://localhost:8080/token' }) instanceof TokenClient);
    assert.ok(new TokenClient({ ...base, tokenUrl: 'http://[::1]:8080/token' }) instanceof TokenClient);
  });

  it('the valid option forms construct without I/O', () => {
    let calls = 0;
    const fetch = async () => { calls += 1; throw new Error('no I/O expected'); };
    new TokenClient({ ...base, fetch, scope: 'a b', extraParams: { audience: 'x' }, headerName: 'Authentication', refreshAheadSeconds: 0, expiryMarginSeconds: 0, defaultExpiresInSeconds: 1, timeoutMs: 1, maxRetries: 0 });
    new TokenClient({ issuer: 'https://auth.example.com', clientId: ID, clientSecret: SECRET, fetch, scope: ['a', 'b'] });
    new TokenClient({ keycloak: { baseUrl: 'https://kc.example.com', realm: 'r' }, clientId: ID, clientSecret: SECRET, fetch, authMethod: 'client_secret_post' });
    assert.equal(calls, 0);
  });
});

describe('on a controllable clock (mock.timers and a scripted token endpoint)', () => {
  // The client's timers and Date.now() are node:test's mock.timers, its fetch answers in
  // process (tests/support/mock-clock.mjs): each wait is asserted to the millisecond, and no
  // load on the machine can make one pass or fail.
  const TOKEN_URL = 'https://idp.example/token';
  const make = (fetch, options = {}) => new TokenClient({ tokenUrl: TOKEN_URL, clientId: ID, clientSecret: SECRET, fetch, ...options });
  const ms = (idp, clock) => idp.calls.map((c) => c.at - clock.start);

  it("a hanging token endpoint → 'timeout' after exactly timeoutMs", async (t) => {
    const clock = mockClock(t);
    const idp = scriptedFetch({ hang: true });
    const pending = settled(make(idp.fetch, { timeoutMs: 300, maxRetries: 0 }).getToken());
    await clock.advance(299);
    assert.equal(pending.state, 'pending', 'not before the timeout');
    await clock.advance(1);
    await rejectsWith(pending.promise, TokenError, 'timeout', { retryable: true, status: undefined });
    assert.equal(idp.calls.length, 1);
    assert.equal(idp.calls[0].init.signal.aborted, true, 'the request is cancelled');
  });

  it('timeouts are retried, each attempt with its own timeout', async (t) => {
    const clock = mockClock(t);
    const idp = scriptedFetch({ hang: true });
    const client = make(idp.fetch, { timeoutMs: 200, maxRetries: 1 });
    const pending = settled(client.getToken());
    while (pending.state === 'pending' && clock.elapsed() < 10_000) await clock.advance(1);
    await rejectsWith(pending.promise, TokenError, 'timeout');
    const [first, second] = ms(idp, clock);
    assert.equal(idp.calls.length, 2);
    assert.equal(first, 0);
    assert.ok(second >= 200, `the retry was sent at +${second} ms, before the first attempt timed out`);
    assert.equal(clock.elapsed(), second + 200, 'the second attempt had its own 200 ms');
    assert.ok(idp.calls.every((c) => c.init.signal.aborted));
    assert.equal(client.stats().tokenRequests, 2);
  });

  // [name, Retry-After (given now), the wait it asks for, options]
  const RETRY_AFTER_WAITS = [
    ['429 with Retry-After: 1', 429, () => '1', 1000, {}],
    ['503 with Retry-After as an HTTP date 2 s ahead', 503, (now) => new Date(now + 2000).toUTCString(), 2000, {}],
    ['503 with Retry-After: 120 (capped at 30 s)', 503, () => '120', 30_000, { timeoutMs: 5000, maxWaitMs: 60_000 }],
    ['429 with Retry-After an hour ahead as an HTTP date (capped at 30 s)', 429, (now) => new Date(now + 3_600_000).toUTCString(), 30_000, { timeoutMs: 5000, maxWaitMs: 60_000 }],
  ];
  for (const [name, status, retryAfter, wait, options] of RETRY_AFTER_WAITS) {
    it(`${name} → the retry waits exactly ${wait} ms`, async (t) => {
      const clock = mockClock(t);
      const idp = scriptedFetch([
        { status, headers: { 'retry-after': retryAfter(Date.now()) }, body: { error: 'temporarily_unavailable' } },
        { status: 200, body: okBody(`tok-after-${wait}`) },
      ]);
      const pending = settled(make(idp.fetch, options).getToken());
      await clock.advance(wait - 1, wait > 5000 ? 100 : 1);
      assert.equal(idp.calls.length, 1, `${name}: no retry before ${wait} ms`);
      assert.equal(pending.state, 'pending', name);
      await clock.advance(1);
      assert.deepEqual(ms(idp, clock), [0, wait], name);
      assert.equal(await pending.promise, `tok-after-${wait}`, name);
    });
  }

  // maxWaitMs: a wait that would end past it is not made; the call fails at once.
  const WAITS_PAST_MAX_WAIT = [
    ['IdP 429 + Retry-After: 30 (maxWaitMs 10000 by default)', 429, 'slow_down', '30', {}, 30],
    ['503 + Retry-After: 2 with maxWaitMs 1500', 503, 'temporarily_unavailable', '2', { maxWaitMs: 1500 }, 2],
  ];
  for (const [name, status, error, retryAfter, options, seconds] of WAITS_PAST_MAX_WAIT) {
    it(`${name} → rejects at once with retryAfter ${seconds}; the next call too, with no token request`, async (t) => {
      const clock = mockClock(t);
      const idp = scriptedFetch([
        { status, headers: { 'retry-after': retryAfter }, body: { error } },
        { status: 200, body: okBody('never') },
      ]);
      const client = make(idp.fetch, options);
      const first = settled(client.getToken());
      await clock.advance(0);
      assert.equal(first.state, 'rejected', `${name}: rejected with no time passing`);
      const err = await rejectsWith(first.promise, TokenError, error, { status });
      assert.equal(err.retryAfter, seconds, name);
      assert.equal(idp.calls.length, 1, `${name}: no retry, its wait would end past maxWaitMs`);
      await clock.advance(1000, 100);
      const second = await rejectsWith(client.getToken(), TokenError, error, { status });
      assert.equal(second.retryAfter, seconds - 1, `${name}: the cooldown counts down`);
      assert.equal(idp.calls.length, 1, `${name}: cooling down, no token request`);
    });
  }

  it('maxWaitMs 1500 lets a 1 s Retry-After wait happen', async (t) => {
    const clock = mockClock(t);
    const idp = scriptedFetch([
      { status: 503, headers: { 'retry-after': '1' }, body: { error: 'temporarily_unavailable' } },
      { status: 200, body: okBody('mw-after-1s') },
    ]);
    const pending = settled(make(idp.fetch, { maxWaitMs: 1500 }).getToken());
    await clock.advance(1000);
    assert.equal(await pending.promise, 'mw-after-1s');
    assert.deepEqual(ms(idp, clock), [0, 1000]);
  });

  it("each attempt's timeout is cut to the time left (hanging IdP, timeoutMs 5000, maxWaitMs 800)", async (t) => {
    const clock = mockClock(t);
    const idp = scriptedFetch({ hang: true });
    const pending = settled(make(idp.fetch, { timeoutMs: 5000, maxWaitMs: 800, maxRetries: 2 }).getToken());
    while (pending.state === 'pending' && clock.elapsed() < 6000) await clock.advance(10);
    await rejectsWith(pending.promise, TokenError, 'timeout');
    assert.ok(clock.elapsed() <= 810, `gave up at +${clock.elapsed()} ms (timeoutMs is 5000, maxWaitMs 800)`);
    assert.equal(idp.calls.length, 1, 'no retry once maxWaitMs is used up');
  });

  it('expires_in as a string is accepted; expiresAt counts from the send time', async (t) => {
    const clock = mockClock(t);
    const idp = scriptedFetch({ status: 200, delayMs: 400, body: { access_token: 'opaque-string-ttl', token_type: 'Bearer', expires_in: '120' } });
    const pending = settled(make(idp.fetch).getTokenInfo());
    await clock.advance(400);
    const info = await pending.promise;
    const sentAt = idp.calls[0].at;
    assert.equal(info.accessToken, 'opaque-string-ttl');
    assert.equal(Date.now(), sentAt + 400, 'received 400 ms after sending');
    assert.equal(info.expiresAt, sentAt + 120_000, 'counted from the send time, not the receipt');
  });

  it('stale-if-error: the old token serves through failed refreshes until expiresAt, never after', async (t) => {
    const clock = mockClock(t);
    const idp = scriptedFetch([
      { status: 200, body: { access_token: 'tok-stale-ok', token_type: 'Bearer', expires_in: 4 } },
      { status: 500, body: { error: 'server_error', error_description: 'refresh failed' } },
    ]);
    const client = make(idp.fetch, { refreshAheadSeconds: 3, expiryMarginSeconds: 1, maxRetries: 0 });
    const info = await client.getTokenInfo();
    assert.equal(info.accessToken, 'tok-stale-ok');
    const expiresAt = info.expiresAt;
    assert.equal(expiresAt, Date.now() + 4000, 'a 4-second token');

    const log = []; // { at, token?, code? }
    while (Date.now() < expiresAt + 700) {
      try {
        const token = await client.getToken();
        log.push({ at: Date.now(), token });
      } catch (err) {
        log.push({ at: Date.now(), code: err.code, status: err.status });
      }
      await clock.advance(100);
    }

    const trace = JSON.stringify(log.map((e) => [e.at - expiresAt, e.token ?? e.code]));
    const served = log.filter((e) => e.token !== undefined);
    const failed = log.filter((e) => e.token === undefined);
    assert.ok(served.every((e) => e.token === 'tok-stale-ok'));
    assert.ok(served.every((e) => e.at < expiresAt), `never served after expiresAt: ${trace}`);
    // In the margin window (last second) the refresh has failed, and the old token still serves.
    assert.ok(served.some((e) => e.at >= expiresAt - 1000 + 50), `served in the margin window: ${trace}`);
    // In the refresh-ahead window, before the margin.
    assert.ok(served.some((e) => e.at >= expiresAt - 3000 && e.at < expiresAt - 1000), `served in the refresh window: ${trace}`);
    assert.ok(failed.length >= 3, `calls after expiry fail: ${trace}`);
    assert.ok(failed.every((e) => e.at >= expiresAt && e.code === 'server_error' && e.status === 500), JSON.stringify(failed));
    const stats = client.stats();
    assert.ok(stats.failures >= 2, `failures ${stats.failures}`);
    assert.equal(stats.refreshes, 0);
    assert.equal(stats.tokenRequests, idp.calls.length);

    // The server recovers: once the failures' cooldown is over, the next call gets a new token.
    idp.set({ status: 200, body: okBody('tok-recovered') });
    const cooling = await client.getToken().catch((err) => err);
    if (cooling instanceof TokenError) {
      assert.equal(idp.calls.length, stats.tokenRequests, 'nothing sent during the cooldown');
      await clock.advance(cooling.retryAfter * 1000, 10);
    }
    assert.equal(await client.getToken(), 'tok-recovered');
  });

  it('a 2-second token with the default 60 s refresh-ahead still serves half its lifetime from memory', async (t) => {
    const clock = mockClock(t);
    const idp = scriptedFetch([
      { status: 200, body: { access_token: 'tok-short-1', token_type: 'Bearer', expires_in: 2 } },
      { status: 200, body: { access_token: 'tok-short-2', token_type: 'Bearer', expires_in: 2 } },
    ]);
    const client = make(idp.fetch); // refreshAheadSeconds 60, expiryMarginSeconds 10: both longer than the token
    const { expiresAt } = await client.getTokenInfo();
    const issued = expiresAt - 2000;
    assert.equal(issued, clock.start);
    while (Date.now() < issued + 850) {
      assert.equal(await client.getToken(), 'tok-short-1', `at +${clock.elapsed()} ms`);
      await clock.advance(50);
    }
    assert.equal(idp.calls.length, 1, 'no request during the first half of the lifetime');
    // After half the lifetime the next call triggers (at most) one refresh.
    await clock.advance(issued + 1100 - Date.now());
    const token = await client.getToken();
    assert.ok(token === 'tok-short-1' || token === 'tok-short-2', token);
    await clock.advance(0);
    assert.equal(idp.calls.length, 2, 'the refresh');
    assert.equal(await client.getToken(), 'tok-short-2');
    assert.equal(idp.calls.length, 2);
  });

  it('a token in the refresh-ahead window is served at once while one background refresh runs', async (t) => {
    const clock = mockClock(t);
    const idp = scriptedFetch([
      { status: 200, body: { access_token: 'tok-old', token_type: 'Bearer', expires_in: 4 } },
      { status: 200, delayMs: 300, body: okBody('tok-new') },
    ]);
    const client = make(idp.fetch, { refreshAheadSeconds: 3, expiryMarginSeconds: 1 });
    const { expiresAt } = await client.getTokenInfo();
    // Fresh: no I/O.
    assert.equal(await client.getToken(), 'tok-old');
    assert.equal(idp.calls.length, 1);
    // Short tokens serve at least half their lifetime: the refresh window opens at 2 s left.
    await clock.advance(expiresAt - 2000 - Date.now() + 100, 10);
    const tokens = settled(Promise.all(Array.from({ length: 20 }, () => client.getToken())));
    await clock.advance(0);
    assert.equal(tokens.state, 'fulfilled', 'served with no time passing: not waiting for the refresh');
    assert.deepEqual(new Set(tokens.value), new Set(['tok-old']));
    assert.equal(idp.calls.length, 2, 'the background refresh');
    await clock.advance(300 + 400);
    assert.equal(idp.calls.length, 2, 'exactly one background refresh');
    assert.equal(await client.getToken(), 'tok-new');
    assert.equal(client.stats().refreshes, 1);
  });

  it("an aborted caller gets 'aborted' at once while another caller of the same flight gets the token", async (t) => {
    const clock = mockClock(t);
    const idp = scriptedFetch({ status: 200, delayMs: 500, body: okBody('tok-shared-flight') });
    const client = make(idp.fetch);
    const controller = new AbortController();
    const aborted = settled(client.getToken({ signal: controller.signal }));
    const other = settled(client.getToken());
    setTimeout(() => controller.abort(), 50);
    await clock.advance(50);
    assert.equal(aborted.state, 'rejected', 'the aborted caller did not wait for the response');
    await rejectsWith(aborted.promise, TokenError, 'aborted', { retryable: false });
    assert.equal(other.state, 'pending');
    await clock.advance(450);
    assert.equal(await other.promise, 'tok-shared-flight');
    assert.equal(idp.calls.length, 1);
  });
});

describe('Retry-After as the package reads it (retryAfterMs in renewal.js)', async () => {
  const { retryAfterMs } = await import('../../pkg/renewal.js');
  const RFC_DATE_MS = Date.UTC(1994, 10, 6, 8, 49, 37); // Sun, 06 Nov 1994 08:49:37 GMT

  it('delay-seconds, with surrounding spaces and leading zeros', () => {
    assert.equal(retryAfterMs('0', 0), 0);
    assert.equal(retryAfterMs('120', 5), 120_000);
    assert.equal(retryAfterMs(' 5 ', 123), 5_000);
    assert.equal(retryAfterMs('007', 0), 7_000);
    assert.ok(retryAfterMs('99999999999999999999999', 0) > 30_000);
  });

  it('every HTTP-date form of RFC 9110, less now; a past date means now', () => {
    for (const date of ['Sun, 06 Nov 1994 08:49:37 GMT', 'Sunday, 06-Nov-94 08:49:37 GMT']) {
      assert.equal(retryAfterMs(date, RFC_DATE_MS - 5_000), 5_000, date);
      assert.equal(retryAfterMs(date, RFC_DATE_MS + 60_000), 0, date);
    }
    assert.equal(retryAfterMs('Thu, 29 Feb 2024 00:00:00 GMT', Date.UTC(2024, 1, 29) - 30_000), 30_000);
  });

  it('the asctime form is GMT too, whatever the local time zone', () => {
    const zone = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      assert.equal(retryAfterMs('Sun Nov  6 08:49:37 1994', RFC_DATE_MS - 5_000), 5_000);
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  it('anything else is ignored (the jittered backoff applies)', () => {
    for (const value of [undefined, null, '', '   ', 'soon', '-5', '+5', '1.5', '5s', '0x10', 'Sun, 32 Nov 1994 08:49:37 GMT', 'Sun, 06 Foo 1994 08:49:37 GMT']) {
      assert.equal(retryAfterMs(value, RFC_DATE_MS), undefined, String(value));
    }
  });
});
