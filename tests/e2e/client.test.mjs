// End-to-end: the built package (pkg/node.js) against a real authorization server
// (oidc-provider behind the strict front in tests/support/auth-server.mjs).
// Run: node --test tests/e2e/client.test.mjs
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';

import { TokenClient, TokenError } from '../../pkg/node.js';
import { API_SCOPES, CLIENTS, startAuthServer } from '../support/auth-server.mjs';
import { assertNoLeak, jwtPayload, rejectsWith, sleep } from '../support/e2e-helpers.mjs';

const creds = (c) => ({ clientId: c.clientId, clientSecret: c.clientSecret });

describe('TokenClient against oidc-provider', () => {
  let server;
  before(async () => {
    server = await startAuthServer();
  });
  after(async () => {
    await server?.close();
  });
  beforeEach(() => {
    server.setAccessTokenTtl(300);
    server.setDelay(0);
    server.resetCounts();
  });

  describe('client authentication', () => {
    it('gets a token with client_secret_basic (the default)', async () => {
      const client = new TokenClient({ tokenUrl: server.tokenUrl, ...creds(CLIENTS.basic) });
      const token = await client.getToken();
      assert.equal(typeof token, 'string');
      const claims = jwtPayload(token);
      assert.equal(claims.client_id, CLIENTS.basic.clientId);
      assert.equal(claims.iss, server.issuer);
      assert.equal(server.tokenRequests, 1);
      assert.equal(server.requests.length, 1);
      assert.equal(server.requests[0].authMethod, 'basic');
      assert.equal(server.requests[0].clientId, CLIENTS.basic.clientId);
      assert.equal(server.requests[0].grantType, 'client_credentials');
      assert.equal(server.requests[0].status, 200);
      assert.deepEqual(client.stats(), { tokenRequests: 1, cacheHits: 0, refreshes: 0, failures: 0 });
    });

    it('gets a token with client_secret_post', async () => {
      const client = new TokenClient({
        tokenUrl: server.tokenUrl,
        ...creds(CLIENTS.post),
        authMethod: 'client_secret_post',
      });
      const token = await client.getToken();
      assert.equal(jwtPayload(token).client_id, CLIENTS.post.clientId);
      assert.equal(server.tokenRequests, 1);
      assert.equal(server.requests[0].authMethod, 'post');
      assert.equal(server.requests[0].clientId, CLIENTS.post.clientId);
      assert.equal(server.requests[0].status, 200);
    });

    it('form-encodes special characters in client_secret_basic (RFC 6749 §2.3.1)', async () => {
      const client = new TokenClient({ tokenUrl: server.tokenUrl, ...creds(CLIENTS.special) });
      const token = await client.getToken();
      assert.equal(jwtPayload(token).client_id, CLIENTS.special.clientId);
      assert.equal(server.requests[0].authMethod, 'basic');
      assert.equal(server.requests[0].status, 200);
    });

    it('the strict server refuses the wrong method: basic-client sent with post → invalid_client', async () => {
      const client = new TokenClient({
        tokenUrl: server.tokenUrl,
        ...creds(CLIENTS.basic),
        authMethod: 'client_secret_post',
      });
      const err = await rejectsWith(client.getToken(), TokenError, 'invalid_client', { status: 401, retryable: false });
      assert.equal(server.tokenRequests, 1, '4xx is never retried');
      assert.equal(server.requests[0].authMethod, 'post');
      assert.equal(server.requests[0].status, 401);
      assertNoLeak({ error: err, stats: client.stats(), secrets: [CLIENTS.basic.clientSecret] });
    });

    it('the strict server refuses the wrong method: post-client sent with basic → invalid_client', async () => {
      const client = new TokenClient({
        tokenUrl: server.tokenUrl,
        ...creds(CLIENTS.post),
        authMethod: 'client_secret_basic',
      });
      await rejectsWith(client.getToken(), TokenError, 'invalid_client', { status: 401 });
      assert.equal(server.tokenRequests, 1);
      assert.equal(server.requests[0].authMethod, 'basic');
    });

    it('a wrong secret → invalid_client, 401, and the secret appears nowhere', async () => {
      const wrongSecret = 'wrong-secret-Vb93kQ';
      const client = new TokenClient({
        tokenUrl: server.tokenUrl,
        clientId: CLIENTS.basic.clientId,
        clientSecret: wrongSecret,
      });
      const err = await rejectsWith(client.getToken(), TokenError, 'invalid_client', { status: 401, retryable: false });
      assert.equal(server.tokenRequests, 1, 'invalid_client is not retried');
      const stats = client.stats();
      assert.deepEqual(stats, { tokenRequests: 1, cacheHits: 0, refreshes: 0, failures: 1 });
      assertNoLeak({ error: err, stats, secrets: [wrongSecret] });

      // Same through authorizationHeader() and getTokenInfo().
      for (const call of [() => client.authorizationHeader(), () => client.getTokenInfo()]) {
        const again = await rejectsWith(call(), TokenError, 'invalid_client', { status: 401 });
        assert.ok(again.retryAfter >= 1, 'the cooldown is announced');
        assertNoLeak({ error: again, stats: client.stats(), secrets: [wrongSecret] });
      }
      assert.equal(server.tokenRequests, 1, 'calls during the cooldown send nothing');
    });
  });

  describe('scope', () => {
    it('sends a space-separated string scope and reports the granted scope', async () => {
      const client = new TokenClient({ tokenUrl: server.tokenUrl, ...creds(CLIENTS.basic), scope: 'api:read api:write' });
      const info = await client.getTokenInfo();
      assert.equal(server.requests[0].scope, 'api:read api:write');
      assert.equal(info.scope, API_SCOPES);
      assert.equal(jwtPayload(info.accessToken).scope, API_SCOPES);
    });

    it('sends an array scope space-separated', async () => {
      const client = new TokenClient({ tokenUrl: server.tokenUrl, ...creds(CLIENTS.basic), scope: ['api:write', 'api:read'] });
      const info = await client.getTokenInfo();
      assert.equal(server.requests[0].scope, 'api:write api:read');
      assert.deepEqual(new Set(info.scope.split(' ')), new Set(['api:read', 'api:write']));
    });

    it('a one-element array scope is granted alone', async () => {
      const client = new TokenClient({ tokenUrl: server.tokenUrl, ...creds(CLIENTS.post), authMethod: 'client_secret_post', scope: ['api:read'] });
      const info = await client.getTokenInfo();
      assert.equal(server.requests[0].scope, 'api:read');
      assert.equal(info.scope, 'api:read');
      assert.equal(jwtPayload(info.accessToken).scope, 'api:read');
    });

    it('sends no scope parameter when none is configured', async () => {
      const client = new TokenClient({ tokenUrl: server.tokenUrl, ...creds(CLIENTS.basic) });
      await client.getToken();
      assert.equal(server.requests[0].scope, undefined);
    });
  });

  describe('finding the token endpoint', () => {
    it('discovers it through issuer, once, for 200 concurrent cold calls', async () => {
      const client = new TokenClient({ issuer: server.issuer, ...creds(CLIENTS.basic) });
      assert.equal(server.discoveryRequests, 0, 'the constructor does no I/O');
      const tokens = await Promise.all(Array.from({ length: 200 }, () => client.getToken()));
      assert.equal(new Set(tokens).size, 1);
      assert.equal(server.discoveryRequests, 1);
      assert.equal(server.tokenRequests, 1);
      assert.equal(server.requests[0].path, '/token');
      assert.equal(server.requests[0].authMethod, 'basic');

      // A later forced refresh does not discover again.
      const fresh = await client.getToken({ forceRefresh: true });
      assert.notEqual(fresh, tokens[0]);
      assert.equal(server.discoveryRequests, 1);
      assert.equal(server.tokenRequests, 2);
    });

    it('discovery with client_secret_post; an issuer that differs from the metadata by a slash is refused', async () => {
      const client = new TokenClient({ issuer: server.issuer, ...creds(CLIENTS.post), authMethod: 'client_secret_post' });
      const token = await client.getToken();
      assert.equal(jwtPayload(token).client_id, CLIENTS.post.clientId);
      assert.equal(server.discoveryRequests, 1);
      assert.equal(server.requests[0].authMethod, 'post');

      // RFC 8414 §3.3: the metadata's issuer must be the configured one exactly.
      const slash = new TokenClient({ issuer: `${server.issuer}/`, ...creds(CLIENTS.post) });
      const err = await rejectsWith(slash.getToken(), TokenError, 'invalid_response');
      assert.match(err.message, /issuer/);
      assert.equal(server.tokenRequests, 1, 'no token request to an unverified endpoint');
    });

    it('builds the Keycloak token URL from keycloak: { baseUrl, realm }', async () => {
      const tokenPath = '/realms/test/protocol/openid-connect/token';
      const kc = await startAuthServer({ tokenPath });
      try {
        const client = new TokenClient({ keycloak: { baseUrl: kc.url, realm: 'test' }, ...creds(CLIENTS.basic) });
        const token = await client.getToken();
        assert.equal(jwtPayload(token).client_id, CLIENTS.basic.clientId);
        assert.equal(kc.tokenRequests, 1);
        assert.equal(kc.requests[0].path, tokenPath);
        assert.equal(kc.requests[0].status, 200);
        assert.equal(kc.discoveryRequests, 0, 'no discovery for keycloak');

        // A trailing slash on baseUrl gives the same URL.
        const slash = new TokenClient({ keycloak: { baseUrl: `${kc.url}/`, realm: 'test' }, ...creds(CLIENTS.basic) });
        await slash.getToken();
        assert.equal(kc.requests[1].path, tokenPath);
      } finally {
        await kc.close();
      }
    });
  });

  describe('caching', () => {
    it('a cache hit makes no request', async () => {
      const client = new TokenClient({ tokenUrl: server.tokenUrl, ...creds(CLIENTS.basic) });
      const first = await client.getToken();
      assert.equal(server.tokenRequests, 1);
      for (let i = 0; i < 5; i++) assert.equal(await client.getToken(), first);
      const info = await client.getTokenInfo();
      const header = await client.authorizationHeader();
      assert.equal(info.accessToken, first);
      assert.equal(header[1], `Bearer ${first}`);
      assert.equal(server.tokenRequests, 1);
      assert.deepEqual(client.stats(), { tokenRequests: 1, cacheHits: 7, refreshes: 0, failures: 0 });
    });

    it('getTokenInfo() and authorizationHeader() have the documented shapes', async () => {
      const before = Date.now();
      const client = new TokenClient({ tokenUrl: server.tokenUrl, ...creds(CLIENTS.basic), scope: 'api:read' });
      const info = await client.getTokenInfo();
      const afterReceipt = Date.now();
      assert.deepEqual(Object.keys(info).sort(), ['accessToken', 'expiresAt', 'scope', 'tokenType']);
      assert.equal(typeof info.accessToken, 'string');
      assert.equal(info.tokenType, 'Bearer');
      assert.equal(info.scope, 'api:read');
      assert.ok(Number.isInteger(info.expiresAt), 'expiresAt is an integer of ms');
      const exp = jwtPayload(info.accessToken).exp * 1000;
      // expires_in is 300 s from the send time; the JWT exp (whole seconds) is never later.
      assert.ok(info.expiresAt <= exp, `expiresAt ${info.expiresAt} <= JWT exp ${exp}`);
      assert.ok(info.expiresAt <= afterReceipt + 300_000, 'expiresAt counts from the send time at the latest');
      assert.ok(info.expiresAt >= before + 299_000 - 1000, `expiresAt ${info.expiresAt} about 300 s from ${before}`);

      const header = await client.authorizationHeader();
      assert.ok(Array.isArray(header));
      assert.equal(header.length, 2);
      assert.deepEqual(header, ['Authorization', `Bearer ${info.accessToken}`]);
    });

    it('without a granted scope getTokenInfo() has no scope value', async () => {
      const client = new TokenClient({ tokenUrl: server.tokenUrl, ...creds(CLIENTS.basic) });
      const info = await client.getTokenInfo();
      assert.equal(info.scope, undefined);
    });

    it("headerName 'Authentication' names the header", async () => {
      const client = new TokenClient({ tokenUrl: server.tokenUrl, ...creds(CLIENTS.basic), headerName: 'Authentication' });
      const [name, value] = await client.authorizationHeader();
      assert.equal(name, 'Authentication');
      assert.match(value, /^Bearer [A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      assert.equal(value, `Bearer ${await client.getToken()}`);
      assert.equal(server.tokenRequests, 1);
    });

    it('invalidate() and forceRefresh get a new token', async () => {
      const client = new TokenClient({ tokenUrl: server.tokenUrl, ...creds(CLIENTS.basic) });
      const first = await client.getToken();
      client.invalidate();
      const second = await client.getToken();
      assert.notEqual(second, first);
      assert.equal(server.tokenRequests, 2);
      const third = await client.getToken({ forceRefresh: true });
      assert.notEqual(third, second);
      assert.equal(server.tokenRequests, 3);
      assert.equal(await client.getToken(), third, 'the forced token is cached');
      assert.equal(server.tokenRequests, 3);
      const stats = client.stats();
      assert.equal(stats.tokenRequests, 3);
      assert.equal(stats.failures, 0);
    });

    it('1,000 concurrent cold calls make exactly 1 token request', async () => {
      const client = new TokenClient({ tokenUrl: server.tokenUrl, ...creds(CLIENTS.basic) });
      server.setDelay(100); // keep the request in flight while the calls pile up
      const calls = Array.from({ length: 1000 }, (_, i) =>
        i % 3 === 0 ? client.getToken() : i % 3 === 1 ? client.getTokenInfo().then((x) => x.accessToken) : client.authorizationHeader().then((h) => h[1].slice('Bearer '.length)));
      const tokens = await Promise.all(calls);
      assert.equal(server.tokenRequests, 1);
      assert.equal(new Set(tokens).size, 1);
      assert.equal(client.stats().tokenRequests, 1);
      assert.equal(client.stats().failures, 0);
    });

    it('2-second tokens polled for 10 s: nobody ever receives an expired token', async (t) => {
      server.setAccessTokenTtl(2);
      const client = new TokenClient({ tokenUrl: server.tokenUrl, ...creds(CLIENTS.basic) });
      const deadline = Date.now() + 10_000;
      const problems = [];
      const seen = new Map(); // token -> first time received
      let calls = 0;

      const poller = async (index) => {
        while (Date.now() < deadline) {
          const useInfo = (calls + index) % 2 === 0;
          calls += 1;
          let token;
          let expiresAt;
          if (useInfo) {
            const info = await client.getTokenInfo();
            token = info.accessToken;
            expiresAt = info.expiresAt;
          } else {
            token = await client.getToken();
          }
          const now = Date.now();
          const exp = jwtPayload(token).exp * 1000;
          if (now >= exp) problems.push(`poller ${index}: JWT exp ${exp} <= now ${now}`);
          if (expiresAt !== undefined) {
            if (now >= expiresAt) problems.push(`poller ${index}: expiresAt ${expiresAt} <= now ${now}`);
            if (expiresAt > exp) problems.push(`poller ${index}: expiresAt ${expiresAt} after JWT exp ${exp}`);
          }
          if (!seen.has(token)) seen.set(token, now);
          await sleep(50 + Math.floor(Math.random() * 50));
        }
      };
      await Promise.all([0, 1, 2, 3, 4].map(poller));
      // A background refresh started by the last poll may land after the deadline: let it land
      // here (not in the next test), and start nothing more.
      await sleep(300);

      t.diagnostic(`calls ${calls}, stats ${JSON.stringify(client.stats())}`);
      assert.deepEqual(problems, []);
      assert.ok(calls > 200, `polled ${calls} times`);
      const stats = client.stats();
      assert.equal(stats.failures, 0);
      assert.ok(stats.refreshes >= 4, `refreshes: ${stats.refreshes}`);
      assert.equal(stats.tokenRequests, stats.refreshes + 1, 'one request per new token, no extra requests');
      assert.equal(server.tokenRequests, stats.tokenRequests);
      // Every token fetched was handed out, but for the one a last-moment refresh brought.
      assert.ok(
        seen.size === stats.tokenRequests || seen.size === stats.tokenRequests - 1,
        `${seen.size} tokens handed out of ${stats.tokenRequests} fetched`,
      );
      // Tokens live 1-2 s (the JWT exp is whole seconds); each must serve at least half its
      // lifetime, so 10 s can never need more than ~21 tokens (a refresh storm needs hundreds).
      assert.ok(stats.tokenRequests <= 21, `token requests: ${stats.tokenRequests}`);
      assert.ok(stats.cacheHits >= calls - stats.tokenRequests - 5, `cache hits ${stats.cacheHits} of ${calls} calls`);
    });
  });

  describe('several clients', () => {
    afterEach(() => server.setDelay(0));

    it('two clients in one process are independent', async () => {
      const a = new TokenClient({ tokenUrl: server.tokenUrl, ...creds(CLIENTS.basic), scope: 'api:read' });
      const b = new TokenClient({ tokenUrl: server.tokenUrl, ...creds(CLIENTS.post), authMethod: 'client_secret_post', headerName: 'Authentication' });
      const [ta, tb] = await Promise.all([a.getToken(), b.getToken()]);
      assert.equal(jwtPayload(ta).client_id, CLIENTS.basic.clientId);
      assert.equal(jwtPayload(tb).client_id, CLIENTS.post.clientId);
      assert.equal(server.tokenRequests, 2);

      a.invalidate();
      assert.equal(await b.getToken(), tb, 'invalidating a leaves b cached');
      assert.equal(server.tokenRequests, 2);
      const ta2 = await a.getToken();
      assert.notEqual(ta2, ta);
      assert.equal(server.tokenRequests, 3);

      assert.deepEqual(await a.authorizationHeader(), ['Authorization', `Bearer ${ta2}`]);
      assert.deepEqual(await b.authorizationHeader(), ['Authentication', `Bearer ${tb}`]);
      assert.equal((await a.getTokenInfo()).scope, 'api:read');
      assert.equal(a.stats().tokenRequests, 2);
      assert.equal(b.stats().tokenRequests, 1);
      assert.equal(b.stats().cacheHits, 2);
    });

    it('two clients with the same credentials share nothing; a failing one does not affect another', async () => {
      const a = new TokenClient({ tokenUrl: server.tokenUrl, ...creds(CLIENTS.basic) });
      const b = new TokenClient({ tokenUrl: server.tokenUrl, ...creds(CLIENTS.basic) });
      const bad = new TokenClient({ tokenUrl: server.tokenUrl, clientId: CLIENTS.basic.clientId, clientSecret: 'not-the-secret-123' });
      server.setDelay(50);
      const [ta, tb, badResult] = await Promise.allSettled([a.getToken(), b.getToken(), bad.getToken()]);
      assert.equal(ta.status, 'fulfilled');
      assert.equal(tb.status, 'fulfilled');
      assert.notEqual(ta.value, tb.value, 'each client gets its own token');
      assert.equal(badResult.status, 'rejected');
      assert.equal(badResult.reason.code, 'invalid_client');
      assert.equal(server.tokenRequests, 3);
      assert.deepEqual(a.stats(), { tokenRequests: 1, cacheHits: 0, refreshes: 0, failures: 0 });
      assert.deepEqual(bad.stats(), { tokenRequests: 1, cacheHits: 0, refreshes: 0, failures: 1 });
    });
  });
});
