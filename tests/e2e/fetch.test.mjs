// End-to-end tests of client.fetch with the built package (pkg/node.js):
//   - against an API on 127.0.0.1 that validates the JWT bearer token with jose
//     (createRemoteJWKSet on oidc-provider's jwks_uri, iss, exp, aud) and refuses revoked
//     ones (tests/support/jwt-api-server.mjs);
//   - against the InfoLink fixture's executeJob (nested invalid_grant body when expired);
//   - what triggers the retry and what does not, header name and token type, and redirects
//     (fixture servers).
// Redirects: a redirect within the request's origin is followed with the token; a redirect to
// any other origin is NOT followed: the caller gets the 3xx response itself (Location intact)
// and the other origin receives no request at all.
// Run: node --test tests/e2e/fetch.test.mjs
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';

import { TokenClient, TokenError } from '../../pkg/node.js';
import { CLIENTS, DEFAULT_RESOURCE, startAuthServer } from '../support/auth-server.mjs';
import { startFixtureServer } from '../support/fixture-server.mjs';
import { grantLog } from '../support/grant-helpers.mjs';
import { INFOLINK_CLIENT, startInfoLinkServer } from '../support/infolink-server.mjs';
import { startJwtApiServer } from '../support/jwt-api-server.mjs';
import { mockClock, scriptedFetch, settled } from '../support/mock-clock.mjs';

const bearer = (token) => `Bearer ${token}`;

describe('client.fetch against a JWT-validating API (oidc-provider + jose)', () => {
  let auth;
  let api;
  before(async () => {
    auth = await startAuthServer();
    api = await startJwtApiServer({ issuer: auth.issuer, jwksUrl: auth.jwksUrl, audience: DEFAULT_RESOURCE });
  });
  after(async () => {
    await Promise.all([api?.close(), auth?.close()]);
  });
  beforeEach(() => {
    auth.setAccessTokenTtl(300);
    api.setClockSkew(0);
    auth.resetCounts();
    api.requests.length = 0;
  });

  const newClient = (extra = {}) => new TokenClient({
    tokenUrl: auth.tokenUrl,
    clientId: CLIENTS.basic.clientId,
    clientSecret: CLIENTS.basic.clientSecret,
    ...extra,
  });

  it('attaches the token; the API accepts it (signature via jwks_uri, iss, aud, exp)', async () => {
    const client = newClient();
    const res = await client.fetch(`${api.url}/echo/hello`);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.clientId, CLIENTS.basic.clientId);
    const [seen] = api.requests;
    assert.equal(seen.headers.authorization, bearer(await client.getToken()));
    assert.equal(seen.outcome, 'ok');
    assert.equal(auth.tokenRequests, 1);
  });

  it('a revoked token: 401, then exactly one new token request and a retry that gets 200', async () => {
    const client = newClient();
    const old = await client.getToken();
    api.revoke(old);
    auth.resetCounts();
    const res = await client.fetch(`${api.url}/echo/revoked`, { method: 'POST', body: 'payload' });
    assert.equal(res.status, 200);
    assert.equal(auth.tokenRequests, 1);
    const seen = api.requestsFor('/echo/revoked');
    assert.deepEqual(seen.map((r) => [r.status, r.outcome]), [[401, 'token revoked'], [200, 'ok']]);
    assert.equal(seen[0].headers.authorization, bearer(old));
    const fresh = await client.getToken();
    assert.notEqual(fresh, old);
    assert.equal(seen[1].headers.authorization, bearer(fresh));
    assert.equal(auth.tokenRequests, 1, 'the new token is cached');
  });

  it('a token the API considers expired (its clock runs ahead): one new token, then 200', async () => {
    auth.setAccessTokenTtl(60);
    const client = newClient();
    assert.equal((await client.fetch(`${api.url}/echo/a`)).status, 200);
    api.setClockSkew(120); // tokens of 60 s look expired to the API now
    auth.setAccessTokenTtl(600); // the next one does not
    auth.resetCounts();
    const res = await client.fetch(`${api.url}/echo/b`);
    assert.equal(res.status, 200);
    assert.equal(auth.tokenRequests, 1);
    const seen = api.requestsFor('/echo/b');
    assert.equal(seen.length, 2);
    assert.equal(seen[0].status, 401);
    assert.match(seen[0].outcome, /ERR_JWT_EXPIRED/);
    assert.equal(seen[1].status, 200);
  });

  it('retries only once: when the new token is refused too, that 401 comes back', async () => {
    const client = newClient();
    await client.getToken();
    api.setClockSkew(100_000); // every token looks expired
    auth.resetCounts();
    const res = await client.fetch(`${api.url}/echo/never`);
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate'), /error="invalid_token"/);
    assert.equal((await res.json()).error, 'invalid_token');
    assert.equal(api.requestsFor('/echo/never').length, 2);
    assert.equal(auth.tokenRequests, 1);
  });

  describe('request bodies', () => {
    // Each body is sent with a revoked token first: the retry must carry the same bytes.
    const cases = [
      { name: 'string', make: () => 'plain text body ✓ with unicode', type: /^text\/plain/ },
      { name: 'URLSearchParams', make: () => new URLSearchParams({ a: '1', b: 'x y&z=+' }), type: /^application\/x-www-form-urlencoded/ },
      { name: 'Uint8Array', make: () => new Uint8Array([0, 1, 2, 250, 251, 252, 10, 13]) },
      { name: 'ArrayBuffer', make: () => new Uint8Array([9, 8, 7, 6]).buffer },
      { name: 'Blob', make: () => new Blob(['blob ', 'content'], { type: 'application/x-test' }), type: /^application\/x-test/ },
      {
        name: 'FormData',
        make: () => {
          const form = new FormData();
          form.append('field', 'value with spaces');
          form.append('file', new Blob(['file bytes'], { type: 'text/plain' }), 'report.txt');
          return form;
        },
        type: /^multipart\/form-data; boundary=/,
      },
    ];

    const formEntries = async (entry) => {
      const form = await new Response(entry.body, { headers: { 'content-type': entry.headers['content-type'] } }).formData();
      const out = [];
      for (const [key, value] of form) {
        out.push([key, typeof value === 'string' ? value : { name: value.name, type: value.type, text: await value.text() }]);
      }
      return out;
    };

    for (const { name, make, type } of cases) {
      it(`${name}: re-sent intact on the retry`, async () => {
        const client = newClient();
        api.revoke(await client.getToken());
        auth.resetCounts();
        const path = `/echo/body-${name}`;
        const res = await client.fetch(`${api.url}${path}`, { method: 'PUT', body: make() });
        assert.equal(res.status, 200);
        assert.equal(auth.tokenRequests, 1);
        const [first, retry] = api.requestsFor(path);
        assert.deepEqual([first.status, retry.status, retry.method], [401, 200, 'PUT']);
        const expected = Buffer.from(await new Response(make()).arrayBuffer());
        if (name === 'FormData') {
          // A new multipart boundary per send; the parts must be the same.
          assert.deepEqual(await formEntries(retry), await formEntries(first));
          assert.deepEqual(await formEntries(retry), [
            ['field', 'value with spaces'],
            ['file', { name: 'report.txt', type: 'text/plain', text: 'file bytes' }],
          ]);
        } else {
          assert.ok(first.body.equals(expected), `first body of ${name}`);
          assert.ok(retry.body.equals(expected), `retried body of ${name}`);
          assert.equal(retry.headers['content-type'], first.headers['content-type']);
        }
        if (type) assert.match(retry.headers['content-type'], type);
      });
    }

    it('no body, Request input: retried', async () => {
      const client = newClient();
      api.revoke(await client.getToken());
      const res = await client.fetch(new Request(`${api.url}/echo/request-input`, { headers: { 'x-trace': 't1' } }));
      assert.equal(res.status, 200);
      const seen = api.requestsFor('/echo/request-input');
      assert.deepEqual(seen.map((r) => r.status), [401, 200]);
      assert.ok(seen.every((r) => r.headers['x-trace'] === 't1'));
    });

    it("a ReadableStream body (duplex: 'half') is not retried: the 401 comes back as is", async () => {
      const client = newClient();
      const old = await client.getToken();
      api.revoke(old);
      auth.resetCounts();
      const chunks = ['stream ', 'body'];
      const stream = new ReadableStream({
        pull(controller) {
          if (chunks.length) controller.enqueue(new TextEncoder().encode(chunks.shift()));
          else controller.close();
        },
      });
      const res = await client.fetch(`${api.url}/echo/stream`, { method: 'POST', body: stream, duplex: 'half' });
      assert.equal(res.status, 401);
      assert.match(res.headers.get('www-authenticate'), /^Bearer error="invalid_token"/);
      assert.deepEqual(await res.json(), { error: 'invalid_token', error_description: 'token revoked' });
      const seen = api.requestsFor('/echo/stream');
      assert.equal(seen.length, 1, 'sent once, not retried');
      assert.equal(seen[0].body.toString(), 'stream body');
      // The refused token is dropped: the next call gets a new one and succeeds.
      const next = await client.fetch(`${api.url}/echo/after-stream`, { method: 'POST', body: 'x' });
      assert.equal(next.status, 200);
      assert.notEqual(await client.getToken(), old);
    });
  });

  describe('redirects', () => {
    let other;
    before(async () => { other = await startFixtureServer(); });
    after(async () => { await other?.close(); });
    beforeEach(() => {
      other.reset();
      other.script('/steal', { status: 200, body: { stolen: true } });
      other.script('/echo/x', { status: 200, body: { stolen: true } });
    });

    it('a same-origin redirect is followed with the token', async () => {
      const client = newClient();
      const token = await client.getToken();
      const res = await client.fetch(`${api.url}/same-redirect?to=${encodeURIComponent('/echo/target')}`);
      assert.equal(res.status, 200);
      assert.equal((await res.json()).path, '/echo/target');
      const [target] = api.requestsFor('/echo/target');
      assert.equal(target.headers.authorization, bearer(token));
      assert.equal(target.outcome, 'ok');
    });

    it('307 keeps method and (replayable) body; 303 turns POST into GET', async () => {
      const client = newClient();
      const to = encodeURIComponent('/echo/t307');
      const res = await client.fetch(`${api.url}/same-redirect?status=307&to=${to}`, { method: 'POST', body: 'keep me' });
      assert.equal(res.status, 200);
      const [t307] = api.requestsFor('/echo/t307');
      assert.equal(t307.method, 'POST');
      assert.equal(t307.body.toString(), 'keep me');
      const res303 = await client.fetch(`${api.url}/same-redirect?status=303&to=${encodeURIComponent('/echo/t303')}`, {
        method: 'POST', body: 'dropped',
      });
      assert.equal(res303.status, 200);
      const [t303] = api.requestsFor('/echo/t303');
      assert.equal(t303.method, 'GET');
      assert.equal(t303.body.length, 0);
    });

    for (const [name, target] of [
      ['another port on 127.0.0.1', () => `${other.url}/steal`],
      ['the same port under another host name (localhost)', () => `http://localhost:${api.port}/echo/x`],
    ]) {
      it(`a redirect to another origin (${name}) is not followed: the caller gets the 3xx, no token leaves`, async () => {
        const client = newClient();
        const location = target();
        for (const status of [301, 302, 303, 307, 308]) {
          const res = await client.fetch(`${api.url}/cross-redirect?status=${status}&to=${encodeURIComponent(location)}`);
          assert.equal(res.status, status);
          assert.equal(res.headers.get('location'), location);
        }
        assert.equal(other.requests.length, 0, 'the other origin saw no request at all');
        assert.equal(api.requestsFor('/echo/x').length, 0);
      });
    }

    it('a same-origin hop then a cross-origin hop: stops at the cross-origin one', async () => {
      const client = newClient();
      const cross = `/cross-redirect?to=${encodeURIComponent(`${other.url}/steal`)}`;
      const res = await client.fetch(`${api.url}/same-redirect?to=${encodeURIComponent(cross)}`);
      assert.equal(res.status, 302);
      assert.equal(res.headers.get('location'), `${other.url}/steal`);
      assert.equal(api.requestsFor('/cross-redirect').length, 1);
      assert.equal(other.requests.length, 0);
    });

    it("redirect: 'manual' gives the caller the 3xx as the server sent it", async () => {
      const client = newClient();
      const res = await client.fetch(`${api.url}/same-redirect?to=${encodeURIComponent('/echo/m')}`, { redirect: 'manual' });
      assert.equal(res.status, 302);
      assert.equal(api.requestsFor('/echo/m').length, 0);
    });
  });
});

describe('client.fetch with InfoLink executeJob', () => {
  let server;
  before(async () => { server = await startInfoLinkServer(); });
  after(async () => { await server?.close(); });
  beforeEach(() => {
    server.setExpiredTokenStatus(401);
    server.resetCounts();
  });

  const newClient = () => new TokenClient({
    tokenUrl: server.tokenUrl,
    clientId: INFOLINK_CLIENT.clientId,
    clientSecret: INFOLINK_CLIENT.clientSecret,
    authMethod: 'client_secret_post',
  });
  const job = (client, n) => client.fetch(server.jobUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ appId: '170', n }),
  });

  for (const status of [401, 400, 403]) {
    it(`recovers exactly once per expiry (expired answer with status ${status})`, async () => {
      server.setExpiredTokenStatus(status);
      const client = newClient();
      const first = await job(client, 1);
      assert.equal(first.status, 200);
      for (let round = 2; round <= 3; round++) {
        server.expireAllAccessTokens();
        const res = await job(client, round);
        assert.equal(res.status, 200);
        const body = await res.json();
        assert.equal(body.status, 'ok');
        assert.deepEqual(body.result.request, { appId: '170', n: round }, 'the job body was re-sent intact');
      }
      assert.deepEqual(grantLog(server), ['client_credentials:200', 'refresh_token:200', 'refresh_token:200']);
      assert.deepEqual(server.jobs.map((j) => j.outcome), ['ok', 'expired', 'ok', 'expired', 'ok']);
      assert.deepEqual(server.jobs.map((j) => j.status), [200, status, 200, status, 200]);
    });
  }

  it('20 concurrent fetches after one expiry: one refresh, every job succeeds', async () => {
    const client = newClient();
    assert.equal((await job(client, 0)).status, 200);
    server.expireAllAccessTokens();
    server.setDelay(50);
    try {
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => job(client, i + 1)));
      assert.deepEqual(results.map((r) => r.status), Array(20).fill(200));
      const bodies = await Promise.all(results.map((r) => r.json()));
      assert.deepEqual(bodies.map((b) => b.result.request.n).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
    } finally {
      server.setDelay(0);
    }
    assert.deepEqual(grantLog(server), ['client_credentials:200', 'refresh_token:200']);
    assert.equal(server.jobs.filter((j) => j.outcome === 'ok').length, 21);
    assert.equal(server.jobs.filter((j) => j.outcome === 'expired').length, 20);
  });

  it('when the renewal fails, client.fetch rejects with the TokenError', async () => {
    const client = new TokenClient({
      tokenUrl: server.tokenUrl,
      clientId: INFOLINK_CLIENT.clientId,
      clientSecret: 'not-the-secret',
      authMethod: 'client_secret_post',
    });
    await assert.rejects(job(client, 1), (err) => err instanceof TokenError && err.code === 'invalid_client' && err.status === 401);
    assert.equal(server.jobRequests, 0);
  });
});

describe('client.fetch: what triggers the retry, header name and token type (fixture server)', () => {
  let fx;
  before(async () => { fx = await startFixtureServer(); });
  after(async () => { await fx?.close(); });

  let tokenSeq = 0;
  /** A client whose token endpoint is the fixture: every token request gets a new token. */
  function setup(extra = {}, tokenType = 'Bearer') {
    fx.reset();
    fx.script('/token', Array.from({ length: 5 }, () => {
      tokenSeq += 1;
      return { body: { access_token: `fx-at-${tokenSeq}`, token_type: tokenType, expires_in: 300 } };
    }));
    return new TokenClient({
      tokenUrl: `${fx.url}/token`, clientId: 'fx-client', clientSecret: 'fx-secret', ...extra,
    });
  }
  const shaped = (extra = {}) => ({ result: { code: 'invalid_grant', message: 'Credentials or token is invalid or expired', ...extra }, status: 'error' });
  /** A JSON text of the refusal shape that is exactly `size` bytes long. */
  const shapedOfSize = (size) => {
    const base = JSON.stringify(shaped({ pad: '' }));
    const text = JSON.stringify(shaped({ pad: 'x'.repeat(size - base.length) }));
    assert.equal(Buffer.byteLength(text), size);
    return text;
  };

  const noRetry = [
    ['400 non-JSON text', { status: 400, headers: { 'content-type': 'text/plain' }, body: 'invalid_grant: token expired' }],
    ['400 HTML', { status: 400, headers: { 'content-type': 'text/html' }, body: '<h1>invalid_grant</h1>' }],
    ['403 RFC 6750-style JSON', { status: 403, body: { error: 'invalid_grant', error_description: 'expired' } }],
    ['400 other code in the shape', { status: 400, body: { result: { code: 'invalid_request' }, status: 'error' } }],
    ['400 shape with status ok', { status: 400, body: { result: { code: 'invalid_grant' }, status: 'ok' } }],
    ['500 with the shape (not 4xx)', { status: 500, body: shaped() }],
    ['200 with the shape (not 4xx)', { status: 200, body: shaped() }],
    ['400 shape > 64 KB (chunked)', { status: 400, headers: { 'content-type': 'application/json' }, body: shapedOfSize(64 * 1024 + 1) }],
    ['400 shape > 64 KB (content-length)', {
      status: 400, headers: { 'content-type': 'application/json', 'content-length': String(64 * 1024 + 1) }, body: shapedOfSize(64 * 1024 + 1),
    }],
  ];
  for (const [name, response] of noRetry) {
    it(`no retry: ${name}`, async () => {
      const client = setup();
      fx.script('/api', [response, { status: 200, body: { ok: true } }]);
      const res = await client.fetch(`${fx.url}/api`);
      assert.equal(res.status, response.status);
      const text = await res.text();
      const expected = typeof response.body === 'string' ? response.body : JSON.stringify(response.body);
      assert.equal(text, expected, 'the body reaches the caller unread');
      assert.equal(fx.count('/api'), 1);
      assert.equal(fx.count('/token'), 1);
    });
  }

  const retry = [
    ['401 without a body', { status: 401 }],
    ['401 non-JSON', { status: 401, headers: { 'content-type': 'text/plain' }, body: 'nope' }],
    ['400 with the shape', { status: 400, body: shaped() }],
    ['404 with the shape', { status: 404, body: shaped() }],
    ['400 shape of exactly 64 KB (chunked)', { status: 400, headers: { 'content-type': 'application/json' }, body: shapedOfSize(64 * 1024) }],
    ['400 shape of exactly 64 KB (content-length)', {
      status: 400, headers: { 'content-type': 'application/json', 'content-length': String(64 * 1024) }, body: shapedOfSize(64 * 1024),
    }],
  ];
  for (const [name, response] of retry) {
    it(`retry with a new token: ${name}`, async () => {
      const client = setup();
      fx.script('/api', [response, { status: 200, body: { ok: true } }]);
      const res = await client.fetch(`${fx.url}/api`, { method: 'POST', body: 'again' });
      assert.equal(res.status, 200);
      const [first, second] = fx.requestsFor('/api');
      assert.equal(fx.count('/api'), 2);
      assert.equal(fx.count('/token'), 2);
      assert.notEqual(second.headers.authorization, first.headers.authorization);
      assert.equal(second.body, 'again');
    });
  }

  it('an abort signalled in the same tick as the call ends the wait at once', async (t) => {
    // On a controllable clock with a token endpoint that never answers: "at once" is "with
    // no time passing", whatever the machine's load.
    const clock = mockClock(t);
    const idp = scriptedFetch({ hang: true });
    const client = new TokenClient({
      tokenUrl: 'https://idp.example/slow-token', clientId: 'fx-client', clientSecret: 'fx-secret', timeoutMs: 1000, maxRetries: 0, fetch: idp.fetch,
    });
    for (const [name, call] of [
      ['getToken', (signal) => client.getToken({ signal })],
      ['fetch', (signal) => client.fetch('https://api.example/api', { signal })],
    ]) {
      const controller = new AbortController();
      const pending = settled(call(controller.signal));
      controller.abort();
      await clock.advance(0);
      assert.equal(pending.state, 'rejected', `${name}: rejected with no time passing`);
      await assert.rejects(pending.promise, (err) => err.name === 'AbortError' || err.code === 'aborted', name);
    }
    assert.equal(clock.elapsed(), 0);
  });

  it("headerName 'Authentication' is the header fetch uses (and no Authorization)", async () => {
    const client = setup({ headerName: 'Authentication', authMethod: 'client_secret_post' });
    fx.script('/api', { status: 200, body: { ok: true } });
    const res = await client.fetch(`${fx.url}/api`, { headers: { 'x-other': '1' } });
    assert.equal(res.status, 200);
    const [seen] = fx.requestsFor('/api');
    assert.equal(seen.headers.authentication, bearer(await client.getToken()));
    assert.equal(seen.headers.authorization, undefined);
    assert.equal(seen.headers['x-other'], '1');
  });

  it("token_type from the response: lowercase 'bearer' is sent as 'Bearer'", async () => {
    const client = setup({}, 'bearer');
    fx.script('/api', { status: 200, body: { ok: true } });
    await client.fetch(`${fx.url}/api`);
    const token = await client.getToken();
    assert.match(token, /^fx-at-\d+$/);
    assert.equal(fx.requestsFor('/api')[0].headers.authorization, `Bearer ${token}`);
    assert.equal((await client.getTokenInfo()).tokenType, 'Bearer');
  });
});
