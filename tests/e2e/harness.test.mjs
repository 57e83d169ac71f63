// Self-test of the test servers in tests/support, using plain global fetch.
// Run: node --test tests/e2e/harness.test.mjs
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import {
  API_SCOPES,
  CLIENTS,
  DEFAULT_RESOURCE,
  DEVICE_CODE_GRANT,
  closedPortUrl,
  startAuthServer,
  startHangingServer,
} from '../support/auth-server.mjs';
import { startFixtureServer } from '../support/fixture-server.mjs';

const FORM = 'application/x-www-form-urlencoded';

const formEncode = (value) => new URLSearchParams({ v: value }).toString().slice(2);
const basicHeader = (id, secret) => `Basic ${Buffer.from(`${formEncode(id)}:${formEncode(secret)}`).toString('base64')}`;

async function tokenRequest(url, { basic, form = {}, headers = {} } = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': FORM,
      ...(basic ? { authorization: basicHeader(basic.clientId, basic.clientSecret) } : {}),
      ...headers,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...form }).toString(),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { res, status: res.status, json, text };
}

function jwtPayload(token) {
  const parts = token.split('.');
  assert.equal(parts.length, 3, 'a JWT has three dot-separated parts');
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
}

const basicCreds = (c) => ({ clientId: c.clientId, clientSecret: c.clientSecret });
const postForm = (c) => ({ client_id: c.clientId, client_secret: c.clientSecret });

describe('auth server (oidc-provider behind the strict front server)', () => {
  let server;
  before(async () => { server = await startAuthServer(); });
  after(async () => { await server?.close(); });

  it('issues a JWT access token to basic-client over client_secret_basic', async () => {
    const now = Math.floor(Date.now() / 1000);
    const { status, json, res } = await tokenRequest(server.tokenUrl, { basic: basicCreds(CLIENTS.basic) });
    assert.equal(status, 200, JSON.stringify(json));
    assert.equal(json.token_type, 'Bearer');
    assert.equal(json.expires_in, 300);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    const payload = jwtPayload(json.access_token);
    assert.equal(typeof payload.exp, 'number');
    assert.ok(Math.abs(payload.exp - (now + 300)) <= 5, `exp ${payload.exp} vs now+300 ${now + 300}`);
    assert.equal(payload.client_id, CLIENTS.basic.clientId);
    assert.equal(payload.aud, DEFAULT_RESOURCE);
    assert.equal(payload.iss, server.issuer);
  });

  it('issues a token to post-client over client_secret_post', async () => {
    const { status, json } = await tokenRequest(server.tokenUrl, { form: postForm(CLIENTS.post) });
    assert.equal(status, 200, JSON.stringify(json));
    assert.equal(json.token_type, 'Bearer');
    assert.equal(typeof json.expires_in, 'number');
    assert.equal(jwtPayload(json.access_token).client_id, CLIENTS.post.clientId);
  });

  it('refuses basic-client using client_secret_post with 401 invalid_client', async () => {
    const { status, json } = await tokenRequest(server.tokenUrl, { form: postForm(CLIENTS.basic) });
    assert.equal(status, 401);
    assert.equal(json.error, 'invalid_client');
    assert.equal(typeof json.error_description, 'string');
  });

  it('refuses post-client using client_secret_basic with 401 invalid_client', async () => {
    const { status, json, res } = await tokenRequest(server.tokenUrl, { basic: basicCreds(CLIENTS.post) });
    assert.equal(status, 401);
    assert.equal(json.error, 'invalid_client');
    assert.match(res.headers.get('www-authenticate') ?? '', /^Basic /);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
  });

  it('grants exactly the requested scope', async () => {
    const { status, json } = await tokenRequest(server.tokenUrl, {
      basic: basicCreds(CLIENTS.basic), form: { scope: 'api:read' },
    });
    assert.equal(status, 200, JSON.stringify(json));
    assert.equal(json.scope, 'api:read');
    assert.equal(jwtPayload(json.access_token).scope, 'api:read');

    const both = await tokenRequest(server.tokenUrl, { form: { ...postForm(CLIENTS.post), scope: API_SCOPES } });
    assert.equal(both.json.scope, API_SCOPES);
  });

  it('refuses a wrong secret with 401 invalid_client (both methods)', async () => {
    const viaBasic = await tokenRequest(server.tokenUrl, {
      basic: { clientId: CLIENTS.basic.clientId, clientSecret: 'wrong' },
    });
    assert.equal(viaBasic.status, 401);
    assert.equal(viaBasic.json.error, 'invalid_client');
    const viaPost = await tokenRequest(server.tokenUrl, {
      form: { client_id: CLIENTS.post.clientId, client_secret: 'wrong' },
    });
    assert.equal(viaPost.status, 401);
    assert.equal(viaPost.json.error, 'invalid_client');
  });

  it('decodes Basic per RFC 6749 §2.3.1 (form-urlencoded id and secret)', async () => {
    const good = await tokenRequest(server.tokenUrl, { basic: basicCreds(CLIENTS.special) });
    assert.equal(good.status, 200, good.text);
    assert.equal(jwtPayload(good.json.access_token).client_id, CLIENTS.special.clientId);

    const raw = Buffer.from(`${CLIENTS.special.clientId}:${CLIENTS.special.clientSecret}`).toString('base64');
    const bad = await tokenRequest(server.tokenUrl, { headers: { authorization: `Basic ${raw}` } });
    assert.equal(bad.status, 401, bad.text);
    assert.equal(bad.json.error, 'invalid_client');
  });

  it('counts token and discovery requests and records them without secrets', async () => {
    server.resetCounts();
    assert.equal(server.tokenRequests, 0);
    assert.equal(server.discoveryRequests, 0);
    assert.deepEqual(server.requests, []);

    await tokenRequest(server.tokenUrl, { basic: basicCreds(CLIENTS.basic), form: { scope: 'api:write' } });
    await tokenRequest(server.tokenUrl, { form: postForm(CLIENTS.basic) }); // rejected, still counted
    await tokenRequest(server.tokenUrl, { form: postForm(CLIENTS.post) });
    await (await fetch(server.discoveryUrl)).json();

    assert.equal(server.tokenRequests, 3);
    assert.equal(server.discoveryRequests, 1);
    assert.deepEqual(server.requests.map(({ method, path, grantType, clientId, authMethod, scope }) => ({
      method, path, grantType, clientId, authMethod, scope,
    })), [
      { method: 'POST', path: '/token', grantType: 'client_credentials', clientId: 'basic-client', authMethod: 'basic', scope: 'api:write' },
      { method: 'POST', path: '/token', grantType: 'client_credentials', clientId: 'basic-client', authMethod: 'post', scope: undefined },
      { method: 'POST', path: '/token', grantType: 'client_credentials', clientId: 'post-client', authMethod: 'post', scope: undefined },
    ]);
    assert.deepEqual(server.requests.map((r) => r.status), [200, 401, 200]);
    const recorded = JSON.stringify(server.requests);
    for (const c of Object.values(CLIENTS)) {
      if (c.clientSecret) assert.ok(!recorded.includes(c.clientSecret), 'no secret in server.requests');
    }
  });

  it('setAccessTokenTtl(2) gives expires_in 2 and a matching exp', async () => {
    server.setAccessTokenTtl(2);
    try {
      const { json } = await tokenRequest(server.tokenUrl, { basic: basicCreds(CLIENTS.basic) });
      assert.equal(json.expires_in, 2);
      const payload = jwtPayload(json.access_token);
      assert.equal(payload.exp - payload.iat, 2);
    } finally {
      server.setAccessTokenTtl(300);
    }
  });

  it('setDelay(ms) delays token responses', async () => {
    server.setDelay(250);
    try {
      const t0 = performance.now();
      const { status } = await tokenRequest(server.tokenUrl, { basic: basicCreds(CLIENTS.basic) });
      assert.equal(status, 200);
      assert.ok(performance.now() - t0 >= 240, 'answer came after the delay');
    } finally {
      server.setDelay(0);
    }
  });

  it('serves discovery with token_endpoint and auth methods', async () => {
    const res = await fetch(server.discoveryUrl);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    const doc = await res.json();
    assert.equal(doc.issuer, server.issuer);
    assert.equal(doc.token_endpoint, server.tokenUrl);
    assert.ok(doc.token_endpoint_auth_methods_supported.includes('client_secret_basic'));
    assert.ok(doc.token_endpoint_auth_methods_supported.includes('client_secret_post'));
    assert.ok(doc.grant_types_supported.includes('client_credentials'));
    assert.ok(doc.grant_types_supported.includes(DEVICE_CODE_GRANT));
  });

  it('answers CORS preflights and accepts cross-origin token requests', async () => {
    const res = await fetch(server.tokenUrl, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://127.0.0.1:1',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.match(res.headers.get('access-control-allow-headers'), /Authorization/);
    assert.match(res.headers.get('access-control-allow-headers'), /Content-Type/);
    assert.match(res.headers.get('access-control-allow-methods'), /POST/);
    assert.match(res.headers.get('access-control-allow-methods'), /GET/);

    const { status, res: tokenRes } = await tokenRequest(server.tokenUrl, {
      basic: basicCreds(CLIENTS.basic), headers: { origin: 'http://127.0.0.1:1' },
    });
    assert.equal(status, 200);
    assert.equal(tokenRes.headers.get('access-control-allow-origin'), '*');
  });

  it('runs the device flow with approval, refresh token and refresh', async () => {
    const authRes = await fetch(server.deviceAuthorizationUrl, {
      method: 'POST',
      headers: { 'content-type': FORM },
      body: new URLSearchParams({ client_id: CLIENTS.device.clientId, scope: 'offline_access api:read' }),
    });
    const auth = await authRes.json();
    assert.equal(authRes.status, 200, JSON.stringify(auth));
    const poll = () => tokenRequest(server.tokenUrl, {
      form: { grant_type: DEVICE_CODE_GRANT, device_code: auth.device_code, client_id: CLIENTS.device.clientId },
    });
    const pending = await poll();
    assert.equal(pending.status, 400);
    assert.equal(pending.json.error, 'authorization_pending');

    await server.approveDeviceCode(auth.user_code);
    const granted = await poll();
    assert.equal(granted.status, 200, granted.text);
    // The response scope is the access token's, i.e. filtered to the resource server's.
    assert.equal(granted.json.scope, 'api:read');
    assert.equal(typeof granted.json.refresh_token, 'string');
    assert.equal(jwtPayload(granted.json.access_token).aud, DEFAULT_RESOURCE);

    const refreshed = await tokenRequest(server.tokenUrl, {
      form: { grant_type: 'refresh_token', refresh_token: granted.json.refresh_token, client_id: CLIENTS.device.clientId },
    });
    assert.equal(refreshed.status, 200, refreshed.text);
    assert.equal(typeof refreshed.json.access_token, 'string');

    const second = await (await fetch(server.deviceAuthorizationUrl, {
      method: 'POST',
      headers: { 'content-type': FORM },
      body: new URLSearchParams({ client_id: CLIENTS.device.clientId, scope: 'api:read' }),
    })).json();
    await server.denyDeviceCode(second.user_code);
    const denied = await tokenRequest(server.tokenUrl, {
      form: { grant_type: DEVICE_CODE_GRANT, device_code: second.device_code, client_id: CLIENTS.device.clientId },
    });
    assert.equal(denied.status, 400, denied.text);
    assert.equal(denied.json.error, 'access_denied');
  });
});

describe('auth server options', () => {
  it('tokenPath gives a Keycloak-style token URL', async () => {
    const tokenPath = '/realms/test/protocol/openid-connect/token';
    const server = await startAuthServer({ tokenPath });
    try {
      assert.equal(server.tokenUrl, `${server.url}/realms/test/protocol/openid-connect/token`);
      const { status, json } = await tokenRequest(server.tokenUrl, { basic: basicCreds(CLIENTS.basic) });
      assert.equal(status, 200, JSON.stringify(json));
      assert.equal(server.tokenRequests, 1);
      assert.equal(server.requests[0].path, tokenPath);
      const strict = await tokenRequest(server.tokenUrl, { form: postForm(CLIENTS.basic) });
      assert.equal(strict.status, 401);
      const doc = await (await fetch(server.discoveryUrl)).json();
      assert.equal(doc.token_endpoint, server.tokenUrl);
      assert.equal((await fetch(`${server.url}/token`, { method: 'POST' })).status, 404);
    } finally {
      await server.close();
    }
  });
});

describe('network fault helpers', () => {
  it('hanging server accepts but never answers', async () => {
    const hanging = await startHangingServer();
    try {
      const t0 = performance.now();
      await assert.rejects(
        fetch(`${hanging.url}/token`, { method: 'POST', body: 'x=1', signal: AbortSignal.timeout(300) }),
        (err) => err.name === 'TimeoutError' || err.name === 'AbortError',
      );
      assert.ok(performance.now() - t0 >= 280);
      assert.equal(hanging.connections, 1);
    } finally {
      await hanging.close();
    }
  });

  it('closed port refuses connections', async () => {
    const url = await closedPortUrl();
    await assert.rejects(fetch(url), (err) => {
      assert.equal(err.cause?.code, 'ECONNREFUSED');
      return true;
    });
  });
});

describe('fixture server', () => {
  let fx;
  before(async () => { fx = await startFixtureServer(); });
  after(async () => { await fx?.close(); });

  it('answers queued responses in order and repeats the last one', async () => {
    fx.script('/token', [
      { status: 503, headers: { 'retry-after': '1' }, body: { error: 'temporarily_unavailable' } },
      { status: 200, body: { access_token: 'abc', token_type: 'Bearer', expires_in: 60 } },
    ]);
    const first = await fetch(`${fx.url}/token`, { method: 'POST', body: 'grant_type=client_credentials', headers: { 'content-type': FORM, authorization: 'Basic eDp5' } });
    assert.equal(first.status, 503);
    assert.equal(first.headers.get('retry-after'), '1');
    assert.equal(first.headers.get('access-control-allow-origin'), '*');
    assert.equal(first.headers.get('content-type'), 'application/json');
    assert.deepEqual(await first.json(), { error: 'temporarily_unavailable' });
    for (let i = 0; i < 2; i += 1) {
      const res = await fetch(`${fx.url}/token`, { method: 'POST' });
      assert.equal(res.status, 200);
      assert.equal((await res.json()).access_token, 'abc');
    }
    assert.equal(fx.count('/token'), 3);
    assert.equal(fx.requests[0].method, 'POST');
    assert.equal(fx.requests[0].path, '/token');
    assert.equal(fx.requests[0].headers.authorization, 'Basic eDp5');
    assert.equal(fx.requests[0].body, 'grant_type=client_credentials');
  });

  it('sends string bodies verbatim with scripted headers', async () => {
    fx.script('/text', [{ status: 400, headers: { 'content-type': 'text/plain' }, body: 'not json' }]);
    const res = await fetch(`${fx.url}/text`);
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('content-type'), 'text/plain');
    assert.equal(await res.text(), 'not json');
  });

  it('answers 404 for unscripted paths', async () => {
    const res = await fetch(`${fx.url}/nothing-here`);
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
  });

  it('delays and hangs', async () => {
    fx.script('/slow', [{ status: 200, body: 'ok', delayMs: 200 }]);
    const t0 = performance.now();
    const slow = await fetch(`${fx.url}/slow`);
    assert.equal(await slow.text(), 'ok');
    assert.ok(performance.now() - t0 >= 190);

    fx.script('/hang', [{ hang: true }]);
    await assert.rejects(fetch(`${fx.url}/hang`, { signal: AbortSignal.timeout(300) }),
      (err) => err.name === 'TimeoutError' || err.name === 'AbortError');
    assert.equal(fx.count('/hang'), 1);
  });

  it('answers CORS preflights without consuming the queue', async () => {
    fx.script('/cors', [{ status: 201, body: { n: 1 } }, { status: 202, body: { n: 2 } }]);
    const pre = await fetch(`${fx.url}/cors`, {
      method: 'OPTIONS',
      headers: { origin: 'http://127.0.0.1:1', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
    });
    assert.equal(pre.status, 204);
    assert.match(pre.headers.get('access-control-allow-headers'), /Authorization/);
    assert.equal(pre.headers.get('access-control-allow-origin'), '*');
    assert.equal((await fetch(`${fx.url}/cors`, { method: 'POST' })).status, 201);
    assert.equal(fx.count('/cors'), 1);
  });

  it('can be scripted and inspected over HTTP', async () => {
    const scripted = await fetch(`${fx.url}/__script`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ path: '/remote', responses: [{ status: 429, body: { error: 'slow_down' } }, { status: 200, body: 'fine' }] }),
    });
    assert.equal(scripted.status, 204);
    assert.equal(scripted.headers.get('access-control-allow-origin'), '*');
    assert.equal((await fetch(`${fx.url}/remote`, { method: 'POST', body: 'a=1' })).status, 429);
    assert.equal((await fetch(`${fx.url}/remote?x=y`)).status, 200);
    const recorded = await (await fetch(`${fx.url}/__requests?path=/remote`)).json();
    assert.deepEqual(recorded.map((r) => [r.method, r.path, r.body]), [['POST', '/remote', 'a=1'], ['GET', '/remote', '']]);
    assert.equal(recorded[1].query, '?x=y');

    const bad = await fetch(`${fx.url}/__script`, { method: 'POST', body: '{"path":"nope"}' });
    assert.equal(bad.status, 400);

    assert.equal((await fetch(`${fx.url}/__reset`, { method: 'POST' })).status, 204);
    assert.equal(fx.requests.length, 0);
    assert.equal((await fetch(`${fx.url}/remote`)).status, 404);
  });
});

describe('CLI mode', () => {
  async function runCli(script, args) {
    const child = spawn(process.execPath, [fileURLToPath(new URL(script, import.meta.url)), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const lines = createInterface({ input: child.stdout });
    const [line] = await Promise.race([
      once(lines, 'line'),
      once(child, 'exit').then(([code]) => { throw new Error(`exited ${code}: ${stderr}`); }),
    ]);
    return { child, info: JSON.parse(line), stderr: () => stderr };
  }

  async function stop(child) {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = await exited;
    return code;
  }

  it('auth server prints its URLs and stops on SIGTERM', async () => {
    const { child, info, stderr } = await runCli('../support/auth-server.mjs', ['--port', '0', '--token-path', '/realms/r/protocol/openid-connect/token']);
    try {
      assert.match(info.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(info.tokenUrl, `${info.issuer}/realms/r/protocol/openid-connect/token`);
      const { status } = await tokenRequest(info.tokenUrl, { basic: basicCreds(CLIENTS.basic) });
      assert.equal(status, 200);
    } finally {
      assert.equal(await stop(child), 0);
    }
    assert.equal(stderr(), '', 'the auth server CLI is quiet');
  });

  it('fixture server prints its URL and stops on SIGTERM', async () => {
    const { child, info } = await runCli('../support/fixture-server.mjs', ['--port', '0']);
    try {
      assert.match(info.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      await fetch(`${info.url}/__script`, { method: 'POST', body: JSON.stringify({ path: '/x', responses: [{ status: 418 }] }) });
      assert.equal((await fetch(`${info.url}/x`)).status, 418);
    } finally {
      assert.equal(await stop(child), 0);
    }
  });
});
