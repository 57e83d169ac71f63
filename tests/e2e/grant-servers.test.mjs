// Self-tests of the two servers for the refresh-token and password grants, with plain
// fetch: the InfoLink fixture (tests/support/infolink-server.mjs) and the Authlib server
// (tests/support/authlib_server.py via authlib-server.mjs; needs
// `bash tests/support/install-python.sh` first).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import {
  AUTHLIB_CLIENT, AUTHLIB_SCOPES, AUTHLIB_USER, startAuthlibServer,
} from '../support/authlib-server.mjs';
import {
  EXPIRED_TOKEN_BODY, INFOLINK_CLIENT, INFOLINK_SPECIAL_USER, INFOLINK_USER, INVALID_GRANT_BODY,
  startInfoLinkServer,
} from '../support/infolink-server.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// The exact bodies as the InfoLink guide prints them.
const GUIDE_INVALID_GRANT = '{"error_description":"Credentials or token is invalid or expired","error":"invalid_grant"}';
const GUIDE_EXPIRED_TOKEN = '{"result":{"code":"invalid_grant","message":"Credentials or token is invalid or expired"},"status":"error"}';

function basic(id, secret) {
  const enc = (v) => encodeURIComponent(v);
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

async function postForm(url, params, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params).toString(),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, headers: res.headers };
}

async function executeJob(server, accessToken, body = { appId: '170', isAsync: false }) {
  const headers = { 'content-type': 'application/json' };
  if (accessToken !== undefined) headers.authorization = `Bearer ${accessToken}`;
  const res = await fetch(server.jobUrl, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: res.status, text: await res.text() };
}

const clientPost = { client_id: INFOLINK_CLIENT.clientId, client_secret: INFOLINK_CLIENT.clientSecret };
const lastRequest = (server) => server.requests.at(-1);

describe('InfoLink fixture server', () => {
  let server;
  before(async () => { server = await startInfoLinkServer(); });
  after(async () => { await server?.close(); });

  function assertTokenResponse(res) {
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.json), ['access_token', 'refresh_token', 'token_type', 'expires_in']);
    assert.equal(res.json.token_type, 'Bearer');
    assert.equal(res.json.expires_in, 1800);
    assert.match(res.json.access_token, UUID);
    assert.match(res.json.refresh_token, UUID);
    assert.notEqual(res.json.access_token, res.json.refresh_token);
    assert.match(res.headers.get('content-type'), /^application\/json/);
  }

  test('client_credentials with the credentials in the body (as documented), and with Basic', async () => {
    const viaBody = await postForm(server.tokenUrl, { grant_type: 'client_credentials', ...clientPost });
    assertTokenResponse(viaBody);
    assert.deepEqual(
      { ...lastRequest(server), accessTokenId: undefined, issuedRefreshTokenId: undefined },
      { grantType: 'client_credentials', clientId: INFOLINK_CLIENT.clientId, authMethod: 'post', status: 200, accessTokenId: undefined, issuedRefreshTokenId: undefined },
    );
    const viaBasic = await postForm(server.tokenUrl, { grant_type: 'client_credentials' },
      { authorization: basic(INFOLINK_CLIENT.clientId, INFOLINK_CLIENT.clientSecret) });
    assertTokenResponse(viaBasic);
    assert.equal(lastRequest(server).authMethod, 'basic');
    assert.equal(lastRequest(server).clientId, INFOLINK_CLIENT.clientId);
    // The records never hold a secret or a token.
    const records = JSON.stringify(server.requests);
    for (const secret of [INFOLINK_CLIENT.clientSecret, viaBody.json.access_token, viaBody.json.refresh_token]) {
      assert.ok(!records.includes(secret));
    }
  });

  test('password grant; wrong password or user -> the documented invalid_grant body', async () => {
    const ok = await postForm(server.tokenUrl, { grant_type: 'password', ...clientPost, ...INFOLINK_USER });
    assertTokenResponse(ok);
    assert.equal(lastRequest(server).username, INFOLINK_USER.username);
    const special = await postForm(server.tokenUrl, { grant_type: 'password', ...clientPost, ...INFOLINK_SPECIAL_USER });
    assertTokenResponse(special);

    const wrong = await postForm(server.tokenUrl, {
      grant_type: 'password', ...clientPost, username: INFOLINK_USER.username, password: 'not-the-password',
    });
    assert.equal(wrong.status, 400);
    assert.equal(wrong.text, GUIDE_INVALID_GRANT);
    assert.deepEqual(wrong.json, INVALID_GRANT_BODY);
    const unknown = await postForm(server.tokenUrl, {
      grant_type: 'password', ...clientPost, username: 'nobody@company.com', password: INFOLINK_USER.password,
    });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.text, GUIDE_INVALID_GRANT);
  });

  test('client errors: wrong secret, no credentials, unknown grant, wrong content type', async () => {
    const wrongSecret = await postForm(server.tokenUrl, { grant_type: 'client_credentials', client_id: INFOLINK_CLIENT.clientId, client_secret: 'nope' });
    assert.equal(wrongSecret.status, 401);
    assert.equal(wrongSecret.json.error, 'invalid_client');
    const wrongBasic = await postForm(server.tokenUrl, { grant_type: 'password', ...INFOLINK_USER },
      { authorization: basic(INFOLINK_CLIENT.clientId, 'nope') });
    assert.equal(wrongBasic.status, 401);
    assert.equal(wrongBasic.json.error, 'invalid_client');
    assert.ok(wrongBasic.headers.get('www-authenticate'));
    const none = await postForm(server.tokenUrl, { grant_type: 'client_credentials' });
    assert.equal(none.status, 401);
    assert.equal(none.json.error, 'invalid_client');
    const grant = await postForm(server.tokenUrl, { grant_type: 'authorization_code', ...clientPost, code: 'x' });
    assert.equal(grant.status, 400);
    assert.equal(grant.json.error, 'unsupported_grant_type');
    const json = await fetch(server.tokenUrl, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'client_credentials', ...clientPost }),
    });
    assert.equal(json.status, 400);
    assert.equal((await json.json()).error, 'invalid_request');
  });

  test('refresh rotates: new access and refresh token; the old refresh token is refused and recorded as reused', async () => {
    const first = await postForm(server.tokenUrl, { grant_type: 'password', ...clientPost, ...INFOLINK_USER });
    const oldRefresh = first.json.refresh_token;
    const oldId = server.refreshTokenId(oldRefresh);
    assert.match(oldId, /^rt-\d+$/);

    // Exactly the guide's request: grant_type and refresh_token only.
    const second = await postForm(server.tokenUrl, { grant_type: 'refresh_token', refresh_token: oldRefresh });
    assertTokenResponse(second);
    assert.notEqual(second.json.access_token, first.json.access_token);
    assert.notEqual(second.json.refresh_token, oldRefresh);
    const rotated = lastRequest(server);
    assert.equal(rotated.grantType, 'refresh_token');
    assert.equal(rotated.refreshTokenId, oldId);
    assert.equal(rotated.reusedRefreshToken, false);
    assert.equal(rotated.authMethod, 'none');
    assert.equal(rotated.clientId, INFOLINK_CLIENT.clientId);
    assert.equal(rotated.username, INFOLINK_USER.username);
    assert.equal(rotated.issuedRefreshTokenId, server.refreshTokenId(second.json.refresh_token));

    // The refreshed access token works.
    assert.equal((await executeJob(server, second.json.access_token)).status, 200);

    const again = await postForm(server.tokenUrl, { grant_type: 'refresh_token', refresh_token: oldRefresh });
    assert.equal(again.status, 400);
    assert.equal(again.text, GUIDE_INVALID_GRANT);
    assert.equal(lastRequest(server).refreshTokenId, oldId);
    assert.equal(lastRequest(server).reusedRefreshToken, true);
    // The raw log shows the old refresh token sent twice.
    assert.equal(server.log.filter((line) => line.includes(oldRefresh)).length, 2);
    assert.ok(server.log.every((line) => /^POST \/api\/v1\/(oauth2\/token|executeJob) /.test(line)));

    // With client credentials in the body too (optional): accepted; a wrong secret is not.
    const third = await postForm(server.tokenUrl, { grant_type: 'refresh_token', refresh_token: second.json.refresh_token, ...clientPost });
    assertTokenResponse(third);
    assert.equal(lastRequest(server).authMethod, 'post');
    const badClient = await postForm(server.tokenUrl, {
      grant_type: 'refresh_token', refresh_token: third.json.refresh_token, client_id: INFOLINK_CLIENT.clientId, client_secret: 'nope',
    });
    assert.equal(badClient.status, 401);
    // The refused request did not consume it.
    assertTokenResponse(await postForm(server.tokenUrl, { grant_type: 'refresh_token', refresh_token: third.json.refresh_token }));
  });

  test('expired, revoked or unknown refresh token -> the documented invalid_grant body', async () => {
    const grant = async () => (await postForm(server.tokenUrl, { grant_type: 'client_credentials', ...clientPost })).json;
    const refresh = (token) => postForm(server.tokenUrl, { grant_type: 'refresh_token', refresh_token: token });

    const a = await grant();
    server.expireAllRefreshTokens();
    const expired = await refresh(a.refresh_token);
    assert.equal(expired.status, 400);
    assert.equal(expired.text, GUIDE_INVALID_GRANT);
    assert.equal(lastRequest(server).reusedRefreshToken, false);

    const b = await grant();
    server.revokeRefreshTokens();
    const revoked = await refresh(b.refresh_token);
    assert.equal(revoked.status, 400);
    assert.equal(revoked.text, GUIDE_INVALID_GRANT);

    const unknown = await refresh('75168ca1-d5ac-4bda-a943-0d3906710d14');
    assert.equal(unknown.status, 400);
    assert.equal(unknown.text, GUIDE_INVALID_GRANT);
    assert.equal(lastRequest(server).refreshTokenId, 'unknown');

    // A real TTL running out.
    server.setRefreshTokenTtl(0.15);
    const c = await grant();
    await sleep(200);
    assert.equal((await refresh(c.refresh_token)).text, GUIDE_INVALID_GRANT);
    server.setRefreshTokenTtl(3600);
    const d = await grant();
    assert.equal((await refresh(d.refresh_token)).status, 200);
  });

  test('executeJob: valid token -> 200; expired, unknown or missing token -> the documented nested body', async () => {
    server.resetCounts();
    const { access_token: token } = (await postForm(server.tokenUrl, { grant_type: 'password', ...clientPost, ...INFOLINK_USER })).json;
    const ok = await executeJob(server, token, { appId: '170', operation: { opName: 'RunScenario' } });
    assert.equal(ok.status, 200);
    const okBody = JSON.parse(ok.text);
    assert.equal(okBody.status, 'ok');
    assert.deepEqual(okBody.result.request, { appId: '170', operation: { opName: 'RunScenario' } });
    assert.equal(okBody.result.username, INFOLINK_USER.username);

    server.expireAllAccessTokens();
    const expired = await executeJob(server, token);
    assert.equal(expired.status, 401);
    assert.equal(expired.text, GUIDE_EXPIRED_TOKEN);
    assert.deepEqual(JSON.parse(expired.text), EXPIRED_TOKEN_BODY);

    const unknown = await executeJob(server, 'b37b1dcc-7fac-4435-a947-fa2e0a2a3ad7');
    assert.equal(unknown.status, 401);
    assert.equal(unknown.text, GUIDE_EXPIRED_TOKEN);
    const missing = await executeJob(server, undefined);
    assert.equal(missing.status, 401);
    assert.equal(missing.text, GUIDE_EXPIRED_TOKEN);

    assert.equal(server.jobRequests, 4);
    assert.equal(server.expiredJobRequests, 3);
    assert.deepEqual(server.jobs.map((j) => j.outcome), ['ok', 'expired', 'unknown', 'missing']);
    assert.equal(server.tokenRequests, 1);

    // A token issued after expireAllAccessTokens() works; a short TTL really runs out.
    server.setAccessTokenTtl(0.15);
    const short = (await postForm(server.tokenUrl, { grant_type: 'client_credentials', ...clientPost })).json;
    assert.equal(short.expires_in, 0);
    assert.equal((await executeJob(server, short.access_token)).status, 200);
    await sleep(200);
    assert.equal((await executeJob(server, short.access_token)).text, GUIDE_EXPIRED_TOKEN);
    server.setAccessTokenTtl(1800);
  });

  test('expiredTokenStatus makes the "invalid or expired" answer another 4xx', async () => {
    const other = await startInfoLinkServer({ expiredTokenStatus: 403, accessTokenTtl: 60 });
    try {
      const issued = await postForm(other.tokenUrl, { grant_type: 'client_credentials', ...clientPost });
      assert.equal(issued.json.expires_in, 60);
      other.expireAllAccessTokens();
      const res = await executeJob(other, issued.json.access_token);
      assert.equal(res.status, 403);
      assert.equal(res.text, GUIDE_EXPIRED_TOKEN);
      other.setExpiredTokenStatus(400);
      assert.equal((await executeJob(other, issued.json.access_token)).status, 400);
      assert.throws(() => other.setExpiredTokenStatus(500), TypeError);
    } finally {
      await other.close();
    }
  });

  test('CLI mode prints one JSON line and stops on SIGTERM', async () => {
    const script = fileURLToPath(new URL('../support/infolink-server.mjs', import.meta.url));
    const child = spawn(process.execPath, [script, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      child.stdout.setEncoding('utf8');
      let out = '';
      while (!out.includes('\n')) {
        const [chunk] = await once(child.stdout, 'data');
        out += chunk;
      }
      const info = JSON.parse(out.split('\n')[0]);
      assert.deepEqual(Object.keys(info), ['url', 'tokenUrl', 'jobUrl']);
      assert.match(info.tokenUrl, /^http:\/\/127\.0\.0\.1:\d+\/api\/v1\/oauth2\/token$/);
      assert.equal(info.jobUrl, `${info.url}/api/v1/executeJob`);
      const res = await postForm(info.tokenUrl, { grant_type: 'client_credentials', ...clientPost });
      assert.equal(res.status, 200);
    } finally {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = await exited;
      assert.equal(code, 0);
    }
  });
});

describe('Authlib server (password and refresh_token grants)', () => {
  let server;
  before(async () => { server = await startAuthlibServer(); });
  after(async () => { await server?.close(); });

  const viaBasic = { authorization: basic(AUTHLIB_CLIENT.clientId, AUTHLIB_CLIENT.clientSecret) };
  const viaPost = { client_id: AUTHLIB_CLIENT.clientId, client_secret: AUTHLIB_CLIENT.clientSecret };

  function assertTokens(res) {
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.token_type, 'Bearer');
    assert.equal(typeof res.json.access_token, 'string');
    assert.equal(typeof res.json.refresh_token, 'string');
    assert.equal(res.json.expires_in, 3600);
    return res.json;
  }

  for (const [method, headers, params] of [['client_secret_basic', viaBasic, {}], ['client_secret_post', {}, viaPost]]) {
    test(`password + refresh (rotation) with ${method}`, async () => {
      const first = assertTokens(await postForm(server.tokenUrl, { grant_type: 'password', ...params, ...AUTHLIB_USER }, headers));
      const resource = await fetch(server.resourceUrl, { headers: { authorization: `Bearer ${first.access_token}` } });
      assert.equal(resource.status, 200);
      assert.equal((await resource.json()).user, AUTHLIB_USER.username);

      const second = assertTokens(await postForm(server.tokenUrl, { grant_type: 'refresh_token', refresh_token: first.refresh_token, ...params }, headers));
      assert.notEqual(second.access_token, first.access_token);
      assert.notEqual(second.refresh_token, first.refresh_token);

      const reused = await postForm(server.tokenUrl, { grant_type: 'refresh_token', refresh_token: first.refresh_token, ...params }, headers);
      assert.equal(reused.status, 400);
      assert.equal(reused.json.error, 'invalid_grant');
      assertTokens(await postForm(server.tokenUrl, { grant_type: 'refresh_token', refresh_token: second.refresh_token, ...params }, headers));

      const seen = (await server.requests()).slice(-4);
      const authMethod = method === 'client_secret_basic' ? 'basic' : 'post';
      assert.deepEqual(seen.map((r) => [r.grantType, r.authMethod, r.clientId, r.status]), [
        ['password', authMethod, AUTHLIB_CLIENT.clientId, 200],
        ['refresh_token', authMethod, AUTHLIB_CLIENT.clientId, 200],
        ['refresh_token', authMethod, AUTHLIB_CLIENT.clientId, 400],
        ['refresh_token', authMethod, AUTHLIB_CLIENT.clientId, 200],
      ]);
      assert.equal(seen[1].reusedRefreshToken, false);
      assert.equal(seen[2].reusedRefreshToken, true);
      assert.equal(seen[2].refreshTokenId, seen[1].refreshTokenId);
      assert.ok(!JSON.stringify(seen).includes(first.refresh_token));
    });
  }

  test('scope, wrong password, wrong client secret, no client authentication', async () => {
    const scoped = assertTokens(await postForm(server.tokenUrl, { grant_type: 'password', scope: AUTHLIB_SCOPES, ...AUTHLIB_USER }, viaBasic));
    assert.equal(scoped.scope, AUTHLIB_SCOPES);

    // Authlib answers a wrong resource-owner password with invalid_request (not invalid_grant).
    const wrong = await postForm(server.tokenUrl, { grant_type: 'password', username: AUTHLIB_USER.username, password: 'nope' }, viaBasic);
    assert.equal(wrong.status, 400);
    assert.equal(wrong.json.error, 'invalid_request');

    const badSecret = await postForm(server.tokenUrl, { grant_type: 'password', ...AUTHLIB_USER },
      { authorization: basic(AUTHLIB_CLIENT.clientId, 'nope') });
    assert.equal(badSecret.status, 401);
    assert.equal(badSecret.json.error, 'invalid_client');
    const noAuth = await postForm(server.tokenUrl, { grant_type: 'password', client_id: AUTHLIB_CLIENT.clientId, ...AUTHLIB_USER });
    assert.equal(noAuth.status, 401);
    assert.equal(noAuth.json.error, 'invalid_client');
    const unknown = await postForm(server.tokenUrl, { grant_type: 'refresh_token', refresh_token: 'not-a-token' }, viaBasic);
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json.error, 'invalid_grant');
  });

  test('an expired refresh token is refused with invalid_grant', async () => {
    const short = await startAuthlibServer({ refreshTokenTtl: 0.3 });
    try {
      const first = assertTokens(await postForm(short.tokenUrl, { grant_type: 'password', ...AUTHLIB_USER }, viaBasic));
      await sleep(400);
      const expired = await postForm(short.tokenUrl, { grant_type: 'refresh_token', refresh_token: first.refresh_token }, viaBasic);
      assert.equal(expired.status, 400);
      assert.equal(expired.json.error, 'invalid_grant');
    } finally {
      await short.close();
    }
  });
});
