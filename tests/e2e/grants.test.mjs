// End-to-end tests of the grants and of client authentication, with the built package
// (pkg/node.js):
//   - refresh tokens, rotation and the fallback to the original grant, through the InfoLink
//     fixture (tests/support/infolink-server.mjs), configured as InfoLink documents it
//     (tokenUrl on http://127.0.0.1, client_secret_post);
//   - the password grant (InfoLink fixture, and a real Authlib server);
//   - authMethod 'none' (fixture server), plain-http refusal (no traffic at all);
//   - basicAuthEncoding 'rfc6749' and 'raw' against oidc-provider behind a strict front that
//     decodes Basic credentials one way or the other (auth-server.mjs basicEncoding option).
// The Authlib server needs `bash tests/support/install-python.sh` first.
// Run: node --test tests/e2e/grants.test.mjs
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { TokenClient, TokenError } from '../../pkg/node.js';
import { startAuthServer } from '../support/auth-server.mjs';
import {
  AUTHLIB_CLIENT, AUTHLIB_SCOPES, AUTHLIB_USER, startAuthlibServer,
} from '../support/authlib-server.mjs';
import { startFixtureServer } from '../support/fixture-server.mjs';
import { startHoldingProxy } from '../support/holding-proxy.mjs';
import {
  grantLog, rejectsWithCode, restartInfoLink, sleep, sleepUntil, tapFetch,
} from '../support/grant-helpers.mjs';
import {
  INFOLINK_CLIENT, INFOLINK_SPECIAL_USER, INFOLINK_USER, INVALID_MESSAGE, startInfoLinkServer,
} from '../support/infolink-server.mjs';

/** TokenClient options for the InfoLink fixture, as InfoLink documents its token endpoint. */
const infolink = (server, extra = {}) => ({
  tokenUrl: server.tokenUrl,
  clientId: INFOLINK_CLIENT.clientId,
  clientSecret: INFOLINK_CLIENT.clientSecret,
  authMethod: 'client_secret_post',
  ...extra,
});

const PASSWORD_GRANT = { type: 'password', ...INFOLINK_USER };
const GRANTS = [
  { name: 'client credentials', grant: undefined, original: 'client_credentials' },
  { name: 'password', grant: PASSWORD_GRANT, original: 'password' },
];

/** Starts an InfoLink fixture and closes it when the test ends (also after a restart). */
async function infolinkServer(t, options) {
  const box = { server: await startInfoLinkServer(options) };
  t.after(() => box.server.close());
  return box;
}

const runJob = (client, server, body = { appId: '170', isAsync: false }) => client.fetch(server.jobUrl, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

describe('refresh tokens (InfoLink fixture)', () => {
  for (const { name, grant, original } of GRANTS) {
    describe(`${name} grant`, () => {
      it('renews an expired access token with the refresh token, not the original grant', async (t) => {
        const { server } = await infolinkServer(t, { accessTokenTtl: 1 });
        const client = new TokenClient(infolink(server, { grant }));
        const first = await client.getTokenInfo();
        assert.equal(server.accessTokenId(first.accessToken), 'at-1');
        await sleepUntil(first.expiresAt + 50);
        const second = await client.getToken();
        assert.notEqual(second, first.accessToken);
        assert.deepEqual(grantLog(server), [`${original}:200`, 'refresh_token:200']);
        assert.equal(server.requests[1].refreshTokenId, 'rt-1', 'the refresh token issued with the first token');
        assert.equal(server.accessTokenId(second), 'at-2');
        // A dropped token (say after a 401) is renewed the same way, with the rotated one.
        client.invalidate();
        const third = await client.getToken();
        assert.equal(server.accessTokenId(third), 'at-3');
        assert.deepEqual(grantLog(server), [`${original}:200`, 'refresh_token:200', 'refresh_token:200']);
        assert.equal(server.requests[2].refreshTokenId, 'rt-2');
        assert.ok(server.requests.every((r) => r.reusedRefreshToken !== true));
        assert.deepEqual(client.stats(), { tokenRequests: 3, cacheHits: 0, refreshes: 2, failures: 0 });
        // The refreshed token works at the API.
        const job = await runJob(client, server);
        assert.equal(job.status, 200);
        assert.equal((await job.json()).status, 'ok');
      });

      it('falls back to the original grant when the refresh token expired; the caller sees no error', async (t) => {
        const { server } = await infolinkServer(t, { accessTokenTtl: 1 });
        const client = new TokenClient(infolink(server, { grant }));
        const first = await client.getTokenInfo();
        server.expireAllRefreshTokens();
        await sleepUntil(first.expiresAt + 50);
        const second = await client.getToken();
        assert.notEqual(second, first.accessToken);
        assert.equal(server.accessTokenId(second), 'at-2');
        assert.deepEqual(grantLog(server), [`${original}:200`, 'refresh_token:400', `${original}:200`]);
        assert.equal(server.requests[1].refreshTokenId, 'rt-1');
        assert.equal(client.stats().failures, 0, 'a renewal that fell back did not fail');
        // The fallback is once per refusal: the next renewal uses the new refresh token again.
        client.invalidate();
        await client.getToken();
        assert.deepEqual(grantLog(server).slice(3), ['refresh_token:200']);
        assert.equal(server.requests[3].refreshTokenId, 'rt-2');
      });

      it('falls back to the original grant when the refresh token was revoked', async (t) => {
        const { server } = await infolinkServer(t);
        const client = new TokenClient(infolink(server, { grant }));
        const first = await client.getToken();
        server.revokeRefreshTokens();
        server.expireAllAccessTokens();
        // The API refuses the expired token; client.fetch renews (refresh refused -> original
        // grant) and retries: the caller only sees the job succeed.
        const job = await runJob(client, server);
        assert.equal(job.status, 200);
        assert.equal((await job.json()).status, 'ok');
        assert.deepEqual(grantLog(server), [`${original}:200`, 'refresh_token:400', `${original}:200`]);
        assert.deepEqual(server.jobs.map((j) => j.outcome), ['expired', 'ok']);
        assert.notEqual(await client.getToken(), first);
        assert.equal(client.stats().failures, 0);
      });

      it('falls back when the server forgot the refresh token (restart)', async (t) => {
        const box = await infolinkServer(t);
        const client = new TokenClient(infolink(box.server, { grant }));
        const first = await client.getToken();
        box.server = await restartInfoLink(box.server);
        client.invalidate();
        const second = await client.getToken();
        assert.notEqual(second, first);
        assert.deepEqual(grantLog(box.server), ['refresh_token:400', `${original}:200`]);
        assert.equal(box.server.requests[0].refreshTokenId, 'unknown');
      });
    });
  }

  it('password grant: when the original grant fails too (password changed), the caller gets that error', async (t) => {
    const user = { username: 'pat.ops@company.com', password: 'old-password-1' };
    const box = await infolinkServer(t, { users: [user] });
    const client = new TokenClient(infolink(box.server, { grant: { type: 'password', ...user } }));
    await client.getToken();
    // The password changes on the server (which also forgets the refresh tokens it issued).
    box.server = await restartInfoLink(box.server, { users: [{ ...user, password: 'new-password-2' }] });
    client.invalidate();
    await rejectsWithCode(client.getToken(), TokenError, 'invalid_grant', {
      status: 400, description: INVALID_MESSAGE, retryable: false,
    });
    assert.deepEqual(grantLog(box.server), ['refresh_token:400', 'password:400']);
    assert.equal(client.stats().failures, 1);
    // During the cooldown the same error comes back at once, with nothing sent.
    const cooling = await rejectsWithCode(runJob(client, box.server), TokenError, 'invalid_grant');
    assert.ok(cooling.retryAfter >= 1);
    assert.equal(grantLog(box.server).length, 2);
    // After it, no refresh token is left: the next attempt goes straight to the password grant.
    await new Promise((resolve) => setTimeout(resolve, cooling.retryAfter * 1000));
    const err = await rejectsWithCode(runJob(client, box.server), TokenError, 'invalid_grant');
    assert.equal(err.description, INVALID_MESSAGE);
    assert.deepEqual(grantLog(box.server).slice(2), ['password:400']);
    assert.equal(box.server.jobRequests, 0, 'nothing was sent to the API without a token');
  });

  it('client credentials: when the client secret was changed on the server, the caller gets invalid_client', async (t) => {
    const box = await infolinkServer(t);
    const client = new TokenClient(infolink(box.server));
    await client.getToken();
    // The client's secret is rotated on the server: the one the client holds is now wrong.
    box.server = await restartInfoLink(box.server, {
      clients: [{ clientId: INFOLINK_CLIENT.clientId, clientSecret: 'rotated-secret-on-the-server' }],
    });
    client.invalidate();
    await rejectsWithCode(client.getToken(), TokenError, 'invalid_client', { status: 401 });
    const log = grantLog(box.server);
    // The refresh request authenticates the client too, so the server refuses it with
    // invalid_client already (no invalid_grant, hence no fallback needed to fail).
    assert.equal(log[0], 'refresh_token:401');
    assert.ok(log.length <= 2 && log.every((entry) => entry.endsWith(':401')), log.join(', '));
    assert.equal(client.stats().failures, 1);
  });

  it('single flight with refresh: 200 concurrent calls after expiry send one refresh request', async (t) => {
    const { server } = await infolinkServer(t, { accessTokenTtl: 1 });
    const client = new TokenClient(infolink(server));
    const first = await client.getTokenInfo();
    server.setDelay(100);
    await sleepUntil(first.expiresAt + 20);
    const tokens = await Promise.all(Array.from({ length: 200 }, () => client.getToken()));
    assert.equal(new Set(tokens).size, 1);
    assert.notEqual(tokens[0], first.accessToken);
    assert.deepEqual(grantLog(server), ['client_credentials:200', 'refresh_token:200']);
    assert.equal(client.stats().tokenRequests, 2);

    // And when that refresh is refused: one refresh, one fallback, for all 200 callers.
    server.expireAllRefreshTokens();
    client.invalidate();
    const again = await Promise.all(Array.from({ length: 200 }, () => client.getToken()));
    assert.equal(new Set(again).size, 1);
    assert.notEqual(again[0], tokens[0]);
    assert.deepEqual(grantLog(server).slice(2), ['refresh_token:400', 'client_credentials:200']);
    assert.equal(client.stats().failures, 0);
  });

  it('stale-if-error with refresh: token endpoint down -> the old token is served until it expires', async (t) => {
    const box = await infolinkServer(t, { accessTokenTtl: 2 });
    const client = new TokenClient(infolink(box.server, { maxRetries: 0, timeoutMs: 1000 }));
    const info = await client.getTokenInfo();
    const expiresAt = info.expiresAt;
    // A 2 s token: background refresh from expiresAt-1000, not handed out from expiresAt-500
    // unless the last renewal failed (stale-if-error).
    await box.server.close();
    await sleepUntil(expiresAt - 900);
    assert.equal(await client.getToken(), info.accessToken, 'served while the background refresh runs');
    await sleep(50);
    assert.ok(client.stats().failures >= 1, 'the background refresh failed');
    await sleepUntil(expiresAt - 300);
    assert.equal(await client.getToken(), info.accessToken, 'stale-if-error');
    await sleepUntil(expiresAt + 50);
    const down = await rejectsWithCode(client.getToken(), TokenError, 'network');
    // Back up: the refresh token that met a network error may have reached the server, so it
    // is spent and never sent again; the original grant gets the next token (once the
    // failure's cooldown is over).
    box.server = await restartInfoLink(box.server);
    await sleep(down.retryAfter * 1000);
    const next = await client.getToken();
    assert.notEqual(next, info.accessToken);
    assert.deepEqual(grantLog(box.server), ['client_credentials:200']);
  });

  it('stale-if-error with refresh: refresh refused and the original grant refused too -> old token until expiry', async (t) => {
    const user = { username: 'sam@company.com', password: 'first-password' };
    const box = await infolinkServer(t, { accessTokenTtl: 2, users: [user] });
    const client = new TokenClient(infolink(box.server, { grant: { type: 'password', ...user }, maxRetries: 0 }));
    const info = await client.getTokenInfo();
    box.server = await restartInfoLink(box.server, { accessTokenTtl: 2, users: [{ ...user, password: 'changed' }] });
    await sleepUntil(info.expiresAt - 900);
    assert.equal(await client.getToken(), info.accessToken);
    for (let i = 0; i < 50 && box.server.requests.length < 2; i++) await sleep(10);
    assert.deepEqual(grantLog(box.server), ['refresh_token:400', 'password:400']);
    await sleepUntil(info.expiresAt - 300);
    assert.equal(await client.getToken(), info.accessToken, 'stale-if-error');
    await sleepUntil(info.expiresAt + 50);
    await rejectsWithCode(client.getToken(), TokenError, 'invalid_grant', { status: 400 });
  });

  it('rotation: no refresh token is ever sent again once it was rotated (raw server log)', async (t) => {
    const box = await infolinkServer(t, { accessTokenTtl: 1 });
    const { server } = box;
    const tap = tapFetch();
    const client = new TokenClient(infolink(server, { grant: PASSWORD_GRANT, fetch: tap.fetch }));
    await client.getToken();
    // Renewals of every kind.
    for (let i = 0; i < 3; i++) {
      client.invalidate();
      await client.getToken();
    }
    await Promise.all(Array.from({ length: 20 }, () => client.getToken({ forceRefresh: true })));
    await client.getToken({ forceRefresh: true });
    const info = await client.getTokenInfo();
    await sleepUntil(info.expiresAt - 400); // background refresh window of a 1 s token
    assert.equal(await client.getToken(), info.accessToken);
    for (let i = 0; i < 50 && client.stats().refreshes < 6; i++) await sleep(10);
    server.expireAllAccessTokens();
    assert.equal((await runJob(client, server)).status, 200); // recovery through client.fetch
    server.revokeRefreshTokens();
    client.invalidate();
    await client.getToken(); // refused refresh, fallback to the password grant
    client.invalidate();
    await client.getToken();
    const fresh = await client.getTokenInfo();
    await sleepUntil(fresh.expiresAt + 20); // plain expiry
    await client.getToken();

    const issued = tap.refreshTokens;
    assert.ok(issued.length >= 9, `refresh tokens issued: ${issued.length}`);
    assert.equal(new Set(issued).size, issued.length);
    const log = server.log.join('\n');
    const uses = (token) => log.split(token).length - 1;
    issued.slice(0, -1).forEach((token, i) => {
      assert.equal(uses(token), 1, `refresh token #${i + 1} is sent exactly once before its rotation`);
    });
    assert.equal(uses(issued.at(-1)), 0, 'the newest refresh token was not used yet');
    // Each refresh request carried the newest refresh token at the moment it was sent.
    let newest;
    for (const event of tap.events) {
      if (event.type === 'issued') newest = event.refreshToken;
      else if (event.refreshToken !== undefined) assert.equal(event.refreshToken, newest);
    }
    assert.ok(server.requests.every((r) => r.reusedRefreshToken !== true));
    assert.deepEqual(
      grantLog(server).filter((g) => g.endsWith(':400')),
      ['refresh_token:400'],
      'only the revoked refresh token was refused',
    );
  });
});

describe('rotation when the only caller of a refresh gives up', () => {
  it('a refresh whose only waiter aborted after the server rotated: that refresh token is not sent again', {
  }, async (t) => {
    const { server } = await infolinkServer(t);
    const proxy = await startHoldingProxy(server.url);
    t.after(() => proxy.close());
    const client = new TokenClient(infolink(server, { tokenUrl: `${proxy.url}/api/v1/oauth2/token` }));
    await client.getToken();
    proxy.hold(300); // the server rotates at once; its answer reaches the client late
    const controller = new AbortController();
    const pending = client.getToken({ forceRefresh: true, signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    await rejectsWithCode(pending, TokenError, 'aborted');
    await sleep(300);
    proxy.hold(0);
    await client.getToken(); // the caller gets a token either way (fallback hides it)
    t.diagnostic(grantLog(server).join(', '));
    assert.deepEqual(
      server.requests.filter((r) => r.reusedRefreshToken).map((r) => r.refreshTokenId),
      [],
      'a refresh token the server already rotated was sent again',
    );
  });
});

describe('refresh token edge cases and error shapes (fixture server)', () => {
  let fx;
  before(async () => { fx = await startFixtureServer(); });
  after(async () => { await fx?.close(); });

  const token = (n, refresh = true) => ({
    body: { access_token: `edge-at-${n}`, ...(refresh ? { refresh_token: `edge-rt-${n}` } : {}), token_type: 'Bearer', expires_in: 300 },
  });
  const NESTED_INVALID_GRANT = {
    result: { code: 'invalid_grant', message: 'Credentials or token is invalid or expired' }, status: 'error',
  };
  const sent = (path) => fx.requestsFor(path).map((r) => {
    const form = new URLSearchParams(r.body);
    return form.get('grant_type') === 'refresh_token' ? `refresh_token:${form.get('refresh_token')}` : form.get('grant_type');
  });
  const newClient = (path, extra = {}) => new TokenClient({
    tokenUrl: `${fx.url}${path}`, clientId: 'edge-client', clientSecret: 'edge-secret', ...extra,
  });

  it('a refresh answer without a refresh_token keeps the current refresh token', async () => {
    fx.script('/keep', [token(1), token(2, false), token(3)]);
    const client = newClient('/keep');
    await client.getToken();
    assert.equal(await client.getToken({ forceRefresh: true }), 'edge-at-2');
    assert.equal(await client.getToken({ forceRefresh: true }), 'edge-at-3');
    assert.deepEqual(sent('/keep'), ['client_credentials', 'refresh_token:edge-rt-1', 'refresh_token:edge-rt-1']);
  });

  it('a transient refresh failure (503) keeps the refresh token and does not fall back', async () => {
    const unavailable = { status: 503, body: { error: 'temporarily_unavailable', error_description: 'maintenance' } };
    fx.script('/transient', [token(1), unavailable, unavailable, token(2)]);
    const client = newClient('/transient', { maxRetries: 1 });
    await client.getToken();
    const err = await rejectsWithCode(client.getToken({ forceRefresh: true }), TokenError, 'temporarily_unavailable', {
      status: 503, description: 'maintenance',
    });
    // The next call waits out the failure's cooldown, then uses the refresh token it kept.
    await new Promise((resolve) => setTimeout(resolve, err.retryAfter * 1000));
    assert.equal(await client.getToken(), 'edge-at-2');
    assert.deepEqual(sent('/transient'), [
      'client_credentials', 'refresh_token:edge-rt-1', 'refresh_token:edge-rt-1', 'refresh_token:edge-rt-1',
    ]);
  });

  it("a refresh refused with InfoLink's nested body falls back to the original grant", async () => {
    fx.script('/nested', [token(1), { status: 400, body: NESTED_INVALID_GRANT }, token(2), token(3)]);
    const client = newClient('/nested');
    await client.getToken();
    assert.equal(await client.getToken({ forceRefresh: true }), 'edge-at-2');
    assert.equal(await client.getToken({ forceRefresh: true }), 'edge-at-3');
    assert.deepEqual(sent('/nested'), [
      'client_credentials', 'refresh_token:edge-rt-1', 'client_credentials', 'refresh_token:edge-rt-2',
    ]);
  });

  it('error bodies in both shapes become a TokenError with code and description', async () => {
    const cases = [
      [{ status: 400, body: { error_description: 'Credentials or token is invalid or expired', error: 'invalid_grant' } },
        'invalid_grant', 400, 'Credentials or token is invalid or expired'],
      [{ status: 400, body: NESTED_INVALID_GRANT }, 'invalid_grant', 400, 'Credentials or token is invalid or expired'],
      [{ status: 401, body: { result: { code: 'invalid_client', message: 'Bad client credentials' }, status: 'error' } },
        'invalid_client', 401, 'Bad client credentials'],
      [{ status: 401, body: { error: 'invalid_client', error_description: 'Bad client credentials' } },
        'invalid_client', 401, 'Bad client credentials'],
    ];
    for (const [i, [response, code, status, description]] of cases.entries()) {
      fx.script(`/shape-${i}`, response);
      const err = await rejectsWithCode(newClient(`/shape-${i}`, { maxRetries: 0 }).getToken(), TokenError, code, {
        status, description,
      });
      assert.ok(err.message.includes(code), err.message);
    }
  });
});

describe('password grant (InfoLink fixture)', () => {
  let server;
  before(async () => { server = await startInfoLinkServer(); });
  after(async () => { await server?.close(); });

  it('sends username and password form-encoded: +, @, &, =, %, space, : arrive intact', async () => {
    server.resetCounts();
    const client = new TokenClient(infolink(server, { grant: { type: 'password', ...INFOLINK_SPECIAL_USER } }));
    await client.getToken();
    assert.deepEqual(grantLog(server), ['password:200']);
    assert.equal(server.requests[0].username, INFOLINK_SPECIAL_USER.username);
    assert.equal(server.requests[0].authMethod, 'post');
    const body = new URLSearchParams(server.log[0].split(' body=')[1]);
    assert.equal(body.get('grant_type'), 'password');
    assert.equal(body.get('username'), 'jane+ops@company.com');
    assert.equal(body.get('password'), 'infolink-p&ss=w0rd+ %Z:8');
    assert.equal(body.get('client_id'), INFOLINK_CLIENT.clientId);
    // The token is the user's, also after a refresh.
    const job = await (await runJob(client, server)).json();
    assert.equal(job.result.username, INFOLINK_SPECIAL_USER.username);
    client.invalidate();
    const job2 = await (await runJob(client, server)).json();
    assert.equal(job2.result.username, INFOLINK_SPECIAL_USER.username);
    assert.deepEqual(grantLog(server), ['password:200', 'refresh_token:200']);
  });

  it('works with client_secret_basic as well', async () => {
    server.resetCounts();
    const client = new TokenClient(infolink(server, {
      authMethod: 'client_secret_basic', grant: { type: 'password', ...INFOLINK_SPECIAL_USER },
    }));
    await client.getToken();
    assert.equal(server.requests[0].authMethod, 'basic');
    assert.equal(server.requests[0].status, 200);
  });

  it('a wrong password or an unknown user gives invalid_grant with the server description', async () => {
    server.resetCounts();
    for (const creds of [
      { username: INFOLINK_USER.username, password: 'not-the-password' },
      { username: 'nobody@company.com', password: INFOLINK_USER.password },
    ]) {
      const client = new TokenClient(infolink(server, { grant: { type: 'password', ...creds } }));
      const err = await rejectsWithCode(client.getToken(), TokenError, 'invalid_grant', {
        status: 400, description: INVALID_MESSAGE, retryable: false,
      });
      assert.ok(!err.message.includes(creds.password));
      assert.equal(client.stats().tokenRequests, 1, 'invalid_grant is not retried');
    }
    assert.deepEqual(grantLog(server), ['password:400', 'password:400']);
  });
});

describe("authMethod 'none' (public client)", () => {
  let fx;
  before(async () => { fx = await startFixtureServer(); });
  after(async () => { await fx?.close(); });

  const tokenBody = (n) => ({
    access_token: `public-at-${n}`, refresh_token: `public-rt-${n}`, token_type: 'Bearer', expires_in: 300,
  });

  it('sends client_id in the body, no secret and no Authorization header, also when refreshing', async () => {
    fx.reset();
    fx.script('/token', [{ body: tokenBody(1) }, { body: tokenBody(2) }]);
    const client = new TokenClient({
      tokenUrl: `${fx.url}/token`,
      clientId: 'public-client',
      authMethod: 'none',
      grant: { type: 'password', username: 'pat', password: 'pat-password' },
    });
    assert.equal(await client.getToken(), 'public-at-1');
    assert.equal(await client.getToken({ forceRefresh: true }), 'public-at-2');
    const [first, second] = fx.requestsFor('/token');
    for (const request of [first, second]) {
      assert.equal(request.headers.authorization, undefined);
      assert.match(request.headers['content-type'], /^application\/x-www-form-urlencoded/);
      const form = new URLSearchParams(request.body);
      assert.equal(form.get('client_id'), 'public-client');
      assert.equal(form.has('client_secret'), false);
    }
    assert.deepEqual(Object.fromEntries(new URLSearchParams(first.body)), {
      grant_type: 'password', username: 'pat', password: 'pat-password', client_id: 'public-client',
    });
    assert.deepEqual(Object.fromEntries(new URLSearchParams(second.body)), {
      grant_type: 'refresh_token', refresh_token: 'public-rt-1', client_id: 'public-client',
    });
  });

  it('with client credentials too', async () => {
    fx.reset();
    fx.script('/token', [{ body: tokenBody(3) }]);
    const client = new TokenClient({ tokenUrl: `${fx.url}/token`, clientId: 'public-client', authMethod: 'none' });
    assert.equal(await client.getToken(), 'public-at-3');
    const [request] = fx.requestsFor('/token');
    assert.equal(request.headers.authorization, undefined);
    assert.deepEqual(Object.fromEntries(new URLSearchParams(request.body)), {
      grant_type: 'client_credentials', client_id: 'public-client',
    });
  });

  it('a clientSecret next to authMethod none is never sent (refused as config, or ignored)', async () => {
    fx.reset();
    fx.script('/token', [{ body: tokenBody(4) }]);
    let client;
    try {
      client = new TokenClient({
        tokenUrl: `${fx.url}/token`, clientId: 'public-client', clientSecret: 'stray-secret-9', authMethod: 'none',
      });
    } catch (err) {
      assert.ok(err instanceof TokenError);
      assert.equal(err.code, 'config');
      assert.ok(!err.message.includes('stray-secret-9'));
      return;
    }
    await client.getToken();
    const [request] = fx.requestsFor('/token');
    assert.equal(request.headers.authorization, undefined);
    assert.ok(!request.body.includes('stray-secret-9'));
  });
});

describe('plain http to a non-loopback host', () => {
  // A fetch that records calls: nothing may ever be sent to these hosts.
  function recorder(respond) {
    const calls = [];
    const fetch = async (input, init) => {
      calls.push({ url: String(input instanceof Request ? input.url : input), init });
      if (!respond) throw new Error('no request may be sent');
      return respond();
    };
    return { calls, fetch };
  }
  const creds = { clientId: INFOLINK_CLIENT.clientId, clientSecret: INFOLINK_CLIENT.clientSecret };

  it("is refused at construction, with a message that says how to opt in ('allowInsecureHttp')", () => {
    const { calls, fetch } = recorder();
    for (const where of [
      { tokenUrl: 'http://10.1.2.3/api/v1/oauth2/token' },
      { tokenUrl: 'http://10.1.2.3:8080/api/v1/oauth2/token' },
      { tokenUrl: 'http://infolink.corp.example/api/v1/oauth2/token' },
      { tokenUrl: 'http://127.0.0.1.nip.io/token' },
      { tokenUrl: 'http://localhost.example.com/token' },
      { issuer: 'http://10.1.2.3/oidc' },
      { keycloak: { baseUrl: 'http://10.1.2.3:8080', realm: 'ncp' } },
    ]) {
      let error;
      try {
        new TokenClient({ ...where, ...creds, authMethod: 'client_secret_post', fetch }); // eslint-disable-line no-new
      } catch (err) {
        error = err;
      }
      assert.ok(error instanceof TokenError, `${JSON.stringify(where)} must be refused`);
      assert.equal(error.code, 'config');
      assert.match(error.message, /allowInsecureHttp/);
      assert.ok(!error.message.includes(creds.clientSecret));
    }
    assert.equal(calls.length, 0);
  });

  it('works with allowInsecureHttp: true (the request goes to that URL; no real traffic)', async () => {
    const { calls, fetch } = recorder(() => new Response(
      JSON.stringify({ access_token: 'stub-at', token_type: 'Bearer', expires_in: 60 }),
      { status: 200, headers: { 'content-type': 'application/json' } },
    ));
    const client = new TokenClient({
      tokenUrl: 'http://10.1.2.3/api/v1/oauth2/token',
      allowInsecureHttp: true,
      ...creds,
      authMethod: 'client_secret_post',
      fetch,
    });
    assert.equal(await client.getToken(), 'stub-at');
    assert.equal(calls.length, 1);
    assert.equal(calls[0].url, 'http://10.1.2.3/api/v1/oauth2/token');
  });

  it('a plain-http token_endpoint from discovery is refused too; no token request is sent', async () => {
    const json = (value) => new Response(JSON.stringify(value), { headers: { 'content-type': 'application/json' } });
    const respond = (url) => (url.includes('/.well-known/')
      ? json({ issuer: 'https://auth.example', token_endpoint: 'http://10.1.2.3/token' })
      : json({ access_token: 'must-not-be-fetched', token_type: 'Bearer', expires_in: 60 }));
    const calls = [];
    const fetch = async (input) => {
      const url = String(input instanceof Request ? input.url : input);
      calls.push(url);
      return respond(url);
    };
    const client = new TokenClient({ issuer: 'https://auth.example', ...creds, fetch, maxRetries: 0 });
    // The IdP's answer is at fault, not the configuration.
    const err = await rejectsWithCode(client.getToken(), TokenError, 'invalid_response');
    assert.match(err.message, /allowInsecureHttp/);
    assert.ok(calls.every((url) => url.includes('/.well-known/')), calls.join(', '));
  });

  it('loopback needs no opt-in', () => {
    for (const tokenUrl of ['http://127.0.0.1:1/t', 'http://localhost:1/t', 'http://[::1]:1/t']) {
      new TokenClient({ tokenUrl, ...creds }); // eslint-disable-line no-new
    }
  });
});

describe('password grant against Authlib (a real server)', () => {
  let server;
  let shortRefresh;
  before(async () => {
    [server, shortRefresh] = await Promise.all([
      startAuthlibServer(),
      startAuthlibServer({ refreshTokenTtl: 1 }),
    ]);
  });
  after(async () => {
    await Promise.all([server?.close(), shortRefresh?.close()]);
  });

  const authlib = (target, authMethod, user = AUTHLIB_USER) => ({
    tokenUrl: target.tokenUrl,
    clientId: AUTHLIB_CLIENT.clientId,
    clientSecret: AUTHLIB_CLIENT.clientSecret,
    authMethod,
    scope: AUTHLIB_SCOPES,
    grant: { type: 'password', username: user.username, password: user.password },
  });

  for (const [authMethod, seen] of [['client_secret_basic', 'basic'], ['client_secret_post', 'post']]) {
    it(`${authMethod}: token, API call, refresh with rotation`, async () => {
      const before = (await server.requests()).length;
      const client = new TokenClient(authlib(server, authMethod));
      const first = await client.getTokenInfo();
      assert.equal(first.tokenType, 'Bearer');
      assert.equal(first.scope, AUTHLIB_SCOPES);
      const resource = await client.fetch(server.resourceUrl);
      assert.equal(resource.status, 200);
      assert.deepEqual(await resource.json(), { status: 'ok', user: AUTHLIB_USER.username, scope: AUTHLIB_SCOPES });
      const tokens = [first.accessToken];
      for (let i = 0; i < 3; i++) tokens.push(await client.getToken({ forceRefresh: true }));
      assert.equal(new Set(tokens).size, 4);
      assert.equal((await client.fetch(server.resourceUrl)).status, 200);

      const seenNow = (await server.requests()).slice(before);
      assert.deepEqual(seenNow.map((r) => `${r.grantType}:${r.status}`),
        ['password:200', 'refresh_token:200', 'refresh_token:200', 'refresh_token:200']);
      assert.ok(seenNow.every((r) => r.authMethod === seen && r.clientId === AUTHLIB_CLIENT.clientId));
      assert.equal(seenNow[0].username, AUTHLIB_USER.username);
      // Rotation: each refresh presented the refresh token of the previous answer, never an old one.
      const ids = seenNow.slice(1).map((r) => Number(r.refreshTokenId.slice(3)));
      assert.ok(ids.every((id, i) => i === 0 || id === ids[i - 1] + 1), ids.join(','));
      assert.ok(seenNow.every((r) => r.reusedRefreshToken !== true));
    });
  }

  it('an expired refresh token falls back to the password grant', async () => {
    const client = new TokenClient(authlib(shortRefresh, 'client_secret_basic'));
    const first = await client.getToken();
    await sleep(1100);
    const second = await client.getToken({ forceRefresh: true });
    assert.notEqual(second, first);
    assert.equal(client.stats().failures, 0);
    assert.deepEqual((await shortRefresh.requests()).map((r) => `${r.grantType}:${r.status}`),
      ['password:200', 'refresh_token:400', 'password:200']);
  });

  it('a wrong password: Authlib answers 400 invalid_request (not invalid_grant), and so does the error', async () => {
    const before = (await server.requests()).length;
    const client = new TokenClient(authlib(server, 'client_secret_post', { ...AUTHLIB_USER, password: 'wrong-password' }));
    const err = await rejectsWithCode(client.getToken(), TokenError, 'invalid_request', {
      status: 400,
      description: "Invalid 'username' or 'password' in request.",
      retryable: false,
    });
    assert.ok(!err.message.includes('wrong-password'));
    const seenNow = (await server.requests()).slice(before);
    assert.deepEqual(seenNow.map((r) => `${r.grantType}:${r.status}`), ['password:400']);
  });
});

describe('basicAuthEncoding against oidc-provider (strict front: RFC 6749 or raw Basic decoding)', () => {
  // client_secret_basic with a secret that RFC 6749 §2.3.1 encoding changes: ':', '%', '+'
  // ('%2B' and '%41' decode to something else when url-decoded; '/', '=' and '~' as well).
  const ENCODING_CLIENT = Object.freeze({
    clientId: 'encoding-client',
    clientSecret: 'enc:S3cr%2Bt+x/=~%41',
    authMethod: 'client_secret_basic',
  });
  let rfc;
  let raw;
  before(async () => {
    [rfc, raw] = await Promise.all([
      startAuthServer({ extraClients: [ENCODING_CLIENT] }),
      startAuthServer({ extraClients: [ENCODING_CLIENT], basicEncoding: 'raw' }),
    ]);
  });
  after(async () => {
    await Promise.all([rfc?.close(), raw?.close()]);
  });

  /** What the Basic header carried, decoded from base64 only. */
  const basicPayload = (tap) => {
    const header = tap.requests.at(-1).headers.authorization;
    assert.match(header, /^Basic [A-Za-z0-9+/]+=*$/);
    return Buffer.from(header.slice(6), 'base64').toString('utf8');
  };
  const formDecode = (v) => decodeURIComponent(v.replace(/\+/g, ' '));
  const clientFor = (server, basicAuthEncoding, tap) => new TokenClient({
    tokenUrl: server.tokenUrl,
    clientId: ENCODING_CLIENT.clientId,
    clientSecret: ENCODING_CLIENT.clientSecret,
    ...(basicAuthEncoding ? { basicAuthEncoding } : {}),
    maxRetries: 0,
    fetch: tap.fetch,
  });

  it("'rfc6749' (and the default) works against a server expecting RFC 6749 encoding", async () => {
    for (const encoding of ['rfc6749', undefined]) {
      const tap = tapFetch();
      const token = await clientFor(rfc, encoding, tap).getToken();
      assert.equal(JSON.parse(Buffer.from(token.split('.')[1], 'base64url')).client_id, ENCODING_CLIENT.clientId);
      const payload = basicPayload(tap);
      const colon = payload.indexOf(':');
      assert.equal(payload.slice(0, colon), ENCODING_CLIENT.clientId);
      assert.notEqual(payload.slice(colon + 1), ENCODING_CLIENT.clientSecret, 'the secret is encoded');
      assert.ok(!payload.slice(colon + 1).includes(':'));
      assert.equal(formDecode(payload.slice(colon + 1)), ENCODING_CLIENT.clientSecret);
    }
    assert.deepEqual(rfc.requests.slice(-2).map((r) => [r.authMethod, r.status]), [['basic', 200], ['basic', 200]]);
  });

  it("'raw' works against a server expecting raw credentials", async () => {
    const tap = tapFetch();
    const token = await clientFor(raw, 'raw', tap).getToken();
    assert.equal(typeof token, 'string');
    assert.equal(basicPayload(tap), `${ENCODING_CLIENT.clientId}:${ENCODING_CLIENT.clientSecret}`);
    assert.equal(raw.requests.at(-1).status, 200);
  });

  it("'raw' fails against the RFC 6749 server, 'rfc6749' fails against the raw one (invalid_client)", async () => {
    for (const [server, encoding] of [[rfc, 'raw'], [raw, 'rfc6749'], [raw, undefined]]) {
      const tap = tapFetch();
      const err = await rejectsWithCode(clientFor(server, encoding, tap).getToken(), TokenError, 'invalid_client', {
        status: 401,
      });
      assert.ok(!err.message.includes(ENCODING_CLIENT.clientSecret));
      assert.equal(server.requests.at(-1).status, 401);
    }
  });
});
