// End-to-end tests of the device authorization grant (RFC 8628) with the built package
// (pkg/node.js), against real servers on 127.0.0.1:
//   - oidc-provider behind the strict front of tests/support/auth-server.mjs (discovery,
//     public and confidential device clients, approve/deny/slow_down switches, and a record
//     of every device authorization and poll with its arrival time);
//   - Authlib (tests/support/authlib-server.mjs), when its venv exists
//     (`bash tests/support/install-python.sh`).
// The flows run concurrently (each on its own server, so counts and poll gaps are per flow),
// then one test searches everything they produced for the device codes and client secrets.
// Last, the flow in headless Chromium (the harness of runtimes.test.mjs: playwright-core,
// the system chromium, the package through an import map).
// Run: node --test tests/e2e/device.test.mjs
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { inspect } from 'node:util';

import { TokenClient, TokenError } from '../../pkg/node.js';
import { CLIENTS, closedPortUrl, startAuthServer } from '../support/auth-server.mjs';
import { AUTHLIB_DEVICE_CLIENT, authlibPython, startAuthlibServer } from '../support/authlib-server.mjs';
import { CHROMIUM_PATH, launchChromium } from '../support/chromium.mjs';
import { countingFetch, jwtPayload, rejectsWith, sleep, waitFor } from '../support/e2e-helpers.mjs';
import { tapFetch } from '../support/grant-helpers.mjs';
import { startPageServer } from '../support/page-server.mjs';

const SCOPE = 'openid offline_access api:read';
const CAPTURE_CHECK = '[device.test capture check]';

// Everything the flows produce that a caller could print, for the leak check at the end.
const seen = {
  errors: [], // [where, TokenError]
  clients: [], // TokenClient
  authorizations: [], // DeviceAuthorization
  servers: [], // auth-server instances (their deviceAuthorizations hold the device codes)
  deviceCodes: new Set(), // from the Authlib server's records
  output: [], // console.* and stdout/stderr writes while the flows ran
};

/** Starts an oidc-provider auth server for one test, closed when the test ends. */
async function authServer(t, options = {}) {
  const server = await startAuthServer(options);
  seen.servers.push(server);
  t.after(() => server.close());
  return server;
}

/** A device_code TokenClient for `server` (discovery through its issuer, public client). */
function deviceClient(server, extra = {}) {
  const client = new TokenClient({
    issuer: server.issuer,
    clientId: CLIENTS.device.clientId,
    authMethod: 'none',
    grant: { type: 'device_code' },
    scope: SCOPE,
    ...extra,
  });
  seen.clients.push(client);
  return client;
}

/** Starts a device authorization and records it. */
async function start(client, options) {
  const authorization = await client.startDeviceAuthorization(options);
  seen.authorizations.push(authorization);
  return authorization;
}

/** Awaits a rejection with `code`, records the error. */
async function fails(where, promise, code, fields) {
  const error = await rejectsWith(promise, TokenError, code, fields);
  seen.errors.push([where, error]);
  return error;
}

/** The server's record of the device authorization the client was given. */
function recordOf(server, authorization) {
  const record = server.deviceAuthorizations.find((d) => d.userCode === authorization.userCode);
  assert.ok(record, `the server issued user code ${authorization.userCode}`);
  return record;
}

/** Waits until the server has answered `n` polls of `deviceCode`. */
async function answeredPolls(server, deviceCode, n, timeoutMs = 5000) {
  await waitFor(() => server.pollsOf(deviceCode).filter((p) => p.status !== undefined).length >= n,
    timeoutMs, `${n} answered poll(s)`);
}

const pollLog = (server, deviceCode) => server.pollsOf(deviceCode).map((p) => `${p.status}:${p.error ?? ''}`);

/** A server that answers every request with the Authorization header it got. */
async function startEchoServer(t) {
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ authorization: req.headers.authorization ?? null }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));
  return `http://127.0.0.1:${server.address().port}`;
}

/** Records console.* and process.stdout/stderr writes (passing them on) until the returned function is called. */
function captureOutput(output) {
  const saved = {};
  for (const level of ['log', 'info', 'warn', 'error', 'debug', 'trace', 'dir']) {
    saved[level] = console[level];
    console[level] = (...args) => {
      output.push(args.map((a) => (typeof a === 'string' ? a : inspect(a, { depth: null, showHidden: true }))).join(' '));
      if (args[0] === CAPTURE_CHECK) return undefined;
      return saved[level].apply(console, args);
    };
  }
  const writes = new Map();
  for (const stream of [process.stdout, process.stderr]) {
    writes.set(stream, stream.write);
    stream.write = function write(chunk, ...rest) {
      output.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return writes.get(stream).call(this, chunk, ...rest);
    };
  }
  const unhandled = (reason) => output.push(`unhandledRejection: ${inspect(reason, { showHidden: true })}`);
  process.on('unhandledRejection', unhandled);
  console.debug(CAPTURE_CHECK);
  return () => {
    process.off('unhandledRejection', unhandled);
    for (const [stream, write] of writes) stream.write = write;
    Object.assign(console, saved);
  };
}

const AUTHLIB_SKIP = process.env.AUTHLIB_PYTHON || existsSync(authlibPython())
  ? false
  : 'no Authlib venv (.venv/bin/python3): run `bash tests/support/install-python.sh`';

describe('device authorization grant (RFC 8628)', { concurrency: true }, () => {
  let stopCapture;
  before(() => { stopCapture = captureOutput(seen.output); });
  after(() => stopCapture());

  it('oidc-provider via discovery, public client: user code, approval, token; getToken and friends serve it', async (t) => {
    const server = await authServer(t);
    const echo = await startEchoServer(t);
    const client = deviceClient(server);
    const startedAt = Date.now();
    const authorization = await start(client);
    const record = recordOf(server, authorization);
    assert.equal(server.discoveryRequests, 1);
    assert.equal(server.deviceAuthorizationRequests, 1);
    assert.equal(server.tokenRequests, 0, 'nothing is polled before waitForToken()');
    assert.equal(record.clientId, CLIENTS.device.clientId);
    assert.equal(record.scope, SCOPE);

    assert.equal(authorization.userCode, record.userCode);
    assert.match(authorization.userCode, /^[A-Z]{4}-[A-Z]{4}$/);
    assert.equal(authorization.verificationUri, server.verificationUrl);
    assert.match(authorization.verificationUri, /^http:\/\/127\.0\.0\.1:\d+\//);
    assert.equal(authorization.verificationUriComplete, record.response.verification_uri_complete);
    assert.ok(authorization.verificationUriComplete.includes(authorization.userCode));
    assert.equal(authorization.interval, 1);
    assert.ok(authorization.expiresAt > Date.now() + 590_000, `expiresAt ${authorization.expiresAt - Date.now()} ms ahead`);
    assert.ok(authorization.expiresAt <= Date.now() + 600_000);
    assert.ok(authorization.expiresAt >= startedAt + 599_000);
    assert.deepEqual(Object.keys(authorization).sort(),
      ['expiresAt', 'interval', 'userCode', 'verificationUri', 'verificationUriComplete']);

    const token = authorization.waitForToken();
    await answeredPolls(server, record.deviceCode, 1);
    await server.approveDeviceCode(authorization.userCode);
    const accessToken = await token;
    assert.equal(typeof accessToken, 'string');
    const claims = jwtPayload(accessToken);
    assert.equal(claims.client_id, CLIENTS.device.clientId);
    assert.equal(claims.sub, 'test-user');
    assert.deepEqual(pollLog(server, record.deviceCode), ['400:authorization_pending', '200:']);
    assert.ok(server.pollsOf(record.deviceCode).every((p) => p.authMethod === 'none' && p.clientId === CLIENTS.device.clientId));

    const requests = server.tokenRequests;
    assert.equal(await client.getToken(), accessToken);
    const info = await client.getTokenInfo();
    assert.equal(info.accessToken, accessToken);
    assert.equal(info.tokenType, 'Bearer');
    assert.equal(info.scope, 'api:read');
    assert.ok(Math.abs(info.expiresAt - claims.exp * 1000) <= 1500, `expiresAt ${info.expiresAt} vs exp ${claims.exp}`);
    assert.deepEqual(await client.authorizationHeader(), ['Authorization', `Bearer ${accessToken}`]);
    const response = await client.fetch(`${echo}/api`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { authorization: `Bearer ${accessToken}` });
    assert.equal(server.tokenRequests, requests, 'served from the cache, no request');
    assert.equal(server.discoveryRequests, 1);
    assert.deepEqual(server.serverErrors, []);
    const stats = client.stats();
    assert.equal(stats.failures, 0);
    assert.equal(stats.tokenRequests, 2, 'the two polls');
  });

  it('getToken() before any approval rejects authorization_required and sends nothing', async (t) => {
    const server = await authServer(t);
    const client = deviceClient(server);
    await fails('getToken before start', client.getToken(), 'authorization_required');
    await fails('getTokenInfo before start', client.getTokenInfo(), 'authorization_required');
    await fails('authorizationHeader before start', client.authorizationHeader(), 'authorization_required');
    assert.equal(server.tokenRequests, 0);
    assert.equal(server.deviceAuthorizationRequests, 0);
    assert.equal(server.discoveryRequests, 0);

    // Started but not approved (and not waited for): still authorization_required, no poll.
    const authorization = await start(client);
    assert.equal(server.deviceAuthorizationRequests, 1);
    await fails('getToken while pending', client.getToken(), 'authorization_required');
    assert.equal(server.tokenRequests, 0);
    assert.equal(server.deviceAuthorizationRequests, 1);
    assert.ok(authorization.userCode);
  });

  it('the user denies: waitForToken() rejects access_denied', async (t) => {
    const server = await authServer(t);
    const client = deviceClient(server);
    const authorization = await start(client);
    const record = recordOf(server, authorization);
    const token = authorization.waitForToken();
    await answeredPolls(server, record.deviceCode, 1);
    await server.denyDeviceCode(authorization.userCode);
    const error = await fails('denied', token, 'access_denied');
    assert.equal(error.status, 400);
    assert.deepEqual(pollLog(server, record.deviceCode), ['400:authorization_pending', '400:access_denied']);
    await fails('getToken after deny', client.getToken(), 'authorization_required');
    assert.equal(server.tokenRequests, 2, 'no request after the denial');
  });

  it('a short device code lifetime: expired_token, and no poll after expiresAt', async (t) => {
    const server = await authServer(t, { deviceCodeTtl: 2 });
    const client = deviceClient(server);
    const authorization = await start(client);
    const record = recordOf(server, authorization);
    assert.ok(authorization.expiresAt <= Date.now() + 2000 && authorization.expiresAt > Date.now() + 1500,
      `expiresAt ${authorization.expiresAt - Date.now()} ms ahead`);
    await fails('expired', authorization.waitForToken(), 'expired_token');
    const rejectedAt = Date.now();
    assert.ok(rejectedAt >= authorization.expiresAt - 1100, `rejected ${authorization.expiresAt - rejectedAt} ms before expiresAt`);
    assert.ok(rejectedAt <= authorization.expiresAt + 1500, `rejected ${rejectedAt - authorization.expiresAt} ms after expiresAt`);
    const polls = server.pollsOf(record.deviceCode);
    t.diagnostic(`polls: ${pollLog(server, record.deviceCode).join(', ')}; rejected ${rejectedAt - authorization.expiresAt} ms after expiresAt`);
    assert.ok(polls.length >= 1, 'polled while it was valid');
    // 50 ms for a request sent just before expiresAt to arrive.
    const late = polls.filter((p) => p.at > authorization.expiresAt + 50).map((p) => p.at - authorization.expiresAt);
    assert.deepEqual(late, [], 'ms after expiresAt of polls');
    await sleep(1200);
    assert.equal(server.pollsOf(record.deviceCode).length, polls.length, 'nothing after the rejection');
  });

  it('slow_down adds 5 s to the interval of every later poll', { timeout: 30_000 }, async (t) => {
    const server = await authServer(t);
    const client = deviceClient(server);
    const authorization = await start(client);
    const record = recordOf(server, authorization);
    const token = authorization.waitForToken();
    await answeredPolls(server, record.deviceCode, 1);
    server.slowDown(1); // the second poll
    await answeredPolls(server, record.deviceCode, 3, 12_000); // pending, slow_down, pending
    await server.approveDeviceCode(authorization.userCode);
    assert.equal(typeof await token, 'string');
    assert.deepEqual(pollLog(server, record.deviceCode),
      ['400:authorization_pending', '400:slow_down', '400:authorization_pending', '200:']);
    const gaps = server.pollGaps(record.deviceCode);
    t.diagnostic(`gaps between polls: ${gaps.join(', ')} ms`);
    assert.ok(gaps[0] >= 900 && gaps[0] < 2500, `gap before the slow_down: ${gaps[0]} ms`);
    assert.ok(gaps[1] >= 5500 && gaps[1] < 8500, `gap after the slow_down: ${gaps[1]} ms`);
    assert.ok(gaps[2] >= 5500 && gaps[2] < 8500, `the next gap keeps the longer interval: ${gaps[2]} ms`);
  });

  it('an abort stops waitForToken() at once and no poll follows; an aborted signal stops startDeviceAuthorization()', async (t) => {
    const server = await authServer(t);
    const client = deviceClient(server);
    const authorization = await start(client);
    const record = recordOf(server, authorization);
    const controller = new AbortController();
    const token = authorization.waitForToken({ signal: controller.signal });
    await answeredPolls(server, record.deviceCode, 1);
    await sleep(100); // now in the wait for the next poll
    const polls = server.pollsOf(record.deviceCode).length;
    const abortedAt = Date.now();
    controller.abort();
    await fails('waitForToken aborted', token, 'aborted');
    const took = Date.now() - abortedAt;
    t.diagnostic(`rejected ${took} ms after the abort`);
    assert.ok(took < 200, `rejected ${took} ms after the abort (interval 1000 ms)`);
    await sleep(2 * authorization.interval * 1000 + 200);
    assert.equal(server.pollsOf(record.deviceCode).length, polls, 'polls after the abort');
    assert.equal(server.tokenRequests, polls);

    // An already-aborted signal: nothing is sent, not even discovery.
    const fresh = deviceClient(server);
    const counts = [server.discoveryRequests, server.deviceAuthorizationRequests, server.tokenRequests];
    await fails('start aborted', fresh.startDeviceAuthorization({ signal: AbortSignal.abort() }), 'aborted');
    await fails('start aborted (first client)', client.startDeviceAuthorization({ signal: AbortSignal.abort() }), 'aborted');
    await sleep(100);
    assert.deepEqual([server.discoveryRequests, server.deviceAuthorizationRequests, server.tokenRequests], counts);

    // An already-aborted signal on waitForToken(): no poll either.
    const second = await start(fresh);
    const before2 = server.tokenRequests;
    await fails('waitForToken pre-aborted', second.waitForToken({ signal: AbortSignal.abort() }), 'aborted');
    await sleep(1200);
    assert.equal(server.tokenRequests, before2);
  });

  it('network errors while polling back off: the interval doubles', { timeout: 20_000 }, async (t) => {
    const server = await authServer(t);
    const tokenUrl = `${await closedPortUrl()}/token`;
    const counting = countingFetch();
    const client = deviceClient(server, {
      issuer: undefined,
      tokenUrl,
      deviceAuthorizationUrl: server.deviceAuthorizationUrl,
      fetch: counting.fetch,
    });
    const authorization = await start(client);
    const controller = new AbortController();
    const token = authorization.waitForToken({ signal: controller.signal });
    const polls = () => counting.calls.filter((c) => c.url === tokenUrl);
    await waitFor(() => polls().length >= 3, 10_000, 'three polls');
    controller.abort();
    await fails('aborted after network errors', token, 'aborted');
    const at = polls().map((c) => c.at);
    const gaps = at.slice(1).map((a, i) => a - at[i]);
    t.diagnostic(`gaps between failed polls: ${gaps.join(', ')} ms`);
    assert.equal(polls().length, 3);
    assert.ok(gaps[0] >= 1900 && gaps[0] < 3000, `gap after the first failure: ${gaps[0]} ms (interval 1 s)`);
    assert.ok(gaps[1] >= 3900 && gaps[1] < 5500, `gap after the second failure: ${gaps[1]} ms`);
  });

  it('after approval, short-lived access tokens are renewed through the rotated refresh token for 20 s', { timeout: 40_000 }, async (t) => {
    const server = await authServer(t, { accessTokenTtl: 5 });
    const tap = tapFetch();
    const client = deviceClient(server, { refreshAheadSeconds: 2, expiryMarginSeconds: 1, fetch: tap.fetch });
    const authorization = await start(client);
    const token = authorization.waitForToken();
    await answeredPolls(server, recordOf(server, authorization).deviceCode, 1);
    await server.approveDeviceCode(authorization.userCode);
    const first = await token;
    const failuresAtStart = client.stats().failures;
    assert.equal(failuresAtStart, 0);

    const tokens = [first];
    const errors = [];
    const until = Date.now() + 20_000;
    while (Date.now() < until) {
      try {
        const value = await client.getToken();
        if (value !== tokens.at(-1)) tokens.push(value);
        assert.ok(jwtPayload(value).exp * 1000 > Date.now(), 'an unexpired token');
      } catch (err) {
        errors.push(err);
        seen.errors.push(['renewal loop', err]);
      }
      await sleep(250);
    }
    assert.deepEqual(errors.map((e) => `${e.code}: ${e.message}`), []);
    assert.ok(tokens.length >= 4, `${tokens.length} distinct tokens in 20 s of 5 s tokens`);
    assert.equal(new Set(tokens).size, tokens.length);
    const stats = client.stats();
    t.diagnostic(`${tokens.length} distinct tokens; stats ${JSON.stringify(stats)}`);
    assert.equal(stats.failures, failuresAtStart);
    assert.ok(stats.refreshes >= tokens.length - 1, inspect(stats));

    const refreshes = server.requests.filter((r) => r.grantType === 'refresh_token');
    assert.ok(refreshes.length >= tokens.length - 1, `${refreshes.length} refreshes`);
    assert.deepEqual(refreshes.filter((r) => r.status !== 200).map((r) => `${r.status}:${r.error}`), []);
    assert.ok(refreshes.every((r) => r.authMethod === 'none' && r.clientId === CLIENTS.device.clientId));
    // Never reused: each refresh presented the refresh token of the answer before it.
    const sent = tap.events.filter((e) => e.type === 'sent' && e.refreshToken !== undefined).map((e) => e.refreshToken);
    assert.equal(new Set(sent).size, sent.length, 'a refresh token was presented twice');
    let current;
    for (const event of tap.events) {
      if (event.type === 'issued') current = event.refreshToken;
      else if (event.refreshToken !== undefined) assert.equal(event.refreshToken, current, 'refreshed with the latest refresh token');
    }
    assert.deepEqual(server.serverErrors, []);
  });

  it('a refused refresh token: getToken() rejects authorization_required; a new approval recovers', { timeout: 20_000 }, async (t) => {
    const server = await authServer(t, { accessTokenTtl: 3, refreshTokenTtl: 1 });
    const client = deviceClient(server, { refreshAheadSeconds: 1, expiryMarginSeconds: 1 });
    const authorization = await start(client);
    const token = authorization.waitForToken();
    await answeredPolls(server, recordOf(server, authorization).deviceCode, 1);
    await server.approveDeviceCode(authorization.userCode);
    const first = await token;
    const info = await client.getTokenInfo();
    assert.equal(info.accessToken, first);

    // The refresh token expires after 1 s, so the refresh ahead of expiry is refused; the
    // access token may still be served (stale) until it expires, not after.
    await sleep(Math.max(0, info.expiresAt - Date.now()) + 100);
    const error = await fails('refresh refused', client.getToken(), 'authorization_required');
    assert.ok(!error.message.includes(first));
    const refreshes = server.requests.filter((r) => r.grantType === 'refresh_token');
    assert.ok(refreshes.length >= 1, 'the refresh token was tried');
    assert.ok(refreshes.every((r) => r.status === 400 && r.error === 'invalid_grant'), inspect(refreshes));
    // The spent refresh token is not tried again, and the device code is never replayed.
    const requests = server.tokenRequests;
    await fails('after refusal', client.getToken(), 'authorization_required');
    assert.equal(server.tokenRequests, requests);
    assert.equal(server.pollsOf().filter((p) => p.status === 200).length, 1);

    // The user signs in again.
    const again = await start(client);
    const next = again.waitForToken();
    await answeredPolls(server, recordOf(server, again).deviceCode, 1);
    await server.approveDeviceCode(again.userCode);
    const second = await next;
    assert.notEqual(second, first);
    assert.equal(await client.getToken(), second);
  });

  it('confidential clients: client_secret_basic and client_secret_post', async (t) => {
    const server = await authServer(t);
    await Promise.all([[CLIENTS.deviceBasic, 'basic'], [CLIENTS.devicePost, 'post']].map(async ([creds, seenAs]) => {
      const client = deviceClient(server, {
        clientId: creds.clientId,
        clientSecret: creds.clientSecret,
        authMethod: creds.authMethod,
      });
      const authorization = await start(client);
      const record = recordOf(server, authorization);
      assert.equal(record.clientId, creds.clientId);
      const token = authorization.waitForToken();
      await answeredPolls(server, record.deviceCode, 1);
      await server.approveDeviceCode(authorization.userCode);
      const accessToken = await token;
      assert.equal(jwtPayload(accessToken).client_id, creds.clientId);
      assert.equal(await client.getToken(), accessToken);
      const polls = server.pollsOf(record.deviceCode);
      assert.deepEqual(polls.map((p) => p.status), [400, 200]);
      assert.ok(polls.every((p) => p.authMethod === seenAs && p.clientId === creds.clientId), inspect(polls));
      // The confidential client refreshes with its credentials too.
      const refreshed = await client.getToken({ forceRefresh: true });
      assert.notEqual(refreshed, accessToken);
      const refresh = server.requests.filter((r) => r.grantType === 'refresh_token' && r.clientId === creds.clientId);
      assert.deepEqual(refresh.map((r) => `${r.authMethod}:${r.status}`), [`${seenAs}:200`]);
    }));
  });

  it('explicit deviceAuthorizationUrl and tokenUrl, no discovery', async (t) => {
    const server = await authServer(t);
    const client = deviceClient(server, {
      issuer: undefined,
      tokenUrl: server.tokenUrl,
      deviceAuthorizationUrl: server.deviceAuthorizationUrl,
    });
    const authorization = await start(client);
    const record = recordOf(server, authorization);
    const token = authorization.waitForToken();
    await answeredPolls(server, record.deviceCode, 1);
    await server.approveDeviceCode(authorization.userCode);
    const accessToken = await token;
    assert.equal(jwtPayload(accessToken).client_id, CLIENTS.device.clientId);
    assert.equal(await client.getToken(), accessToken);
    assert.equal(server.discoveryRequests, 0);
    assert.equal(server.deviceAuthorizationRequests, 1);
  });

  describe('Authlib', { skip: AUTHLIB_SKIP, concurrency: true }, () => {
    let server;
    before(async () => { server = await startAuthlibServer(); });
    after(async () => {
      if (server) for (const d of await server.deviceAuthorizations()) seen.deviceCodes.add(d.deviceCode);
      await server?.close();
    });

    const authlibClient = () => {
      const client = new TokenClient({
        tokenUrl: server.tokenUrl,
        deviceAuthorizationUrl: server.deviceAuthorizationUrl,
        clientId: AUTHLIB_DEVICE_CLIENT.clientId,
        authMethod: 'none',
        grant: { type: 'device_code' },
        scope: 'api:read',
      });
      seen.clients.push(client);
      return client;
    };
    const authlibRecord = async (authorization) => {
      const list = await server.deviceAuthorizations();
      const record = list.find((d) => d.userCode === authorization.userCode);
      assert.ok(record, 'Authlib issued the user code');
      return record;
    };
    const firstPoll = async (deviceCode) => {
      const deadline = Date.now() + 5000;
      while ((await server.devicePolls(deviceCode)).length < 1) {
        assert.ok(Date.now() < deadline, 'no poll within 5 s');
        await sleep(25);
      }
    };

    it('approve: waitForToken() resolves with the token', async () => {
      const client = authlibClient();
      const authorization = await start(client);
      assert.equal(authorization.interval, 1);
      assert.match(authorization.verificationUri, /^http:\/\/127\.0\.0\.1:\d+\//);
      const record = await authlibRecord(authorization);
      const token = authorization.waitForToken();
      await firstPoll(record.deviceCode);
      await server.approve(authorization.userCode);
      const accessToken = await token;
      assert.equal(typeof accessToken, 'string');
      assert.ok(accessToken.length > 10);
      assert.equal(await client.getToken(), accessToken);
      const polls = await server.devicePolls(record.deviceCode);
      assert.equal(polls.at(-1).status, 200);
    });

    it('deny: waitForToken() rejects access_denied', async () => {
      const client = authlibClient();
      const authorization = await start(client);
      const record = await authlibRecord(authorization);
      const token = authorization.waitForToken();
      await firstPoll(record.deviceCode);
      await server.deny(authorization.userCode);
      await fails('Authlib denied', token, 'access_denied');
    });
  });
});

describe('secrets', () => {
  it('no device code or client secret in any error, stats(), inspect() or output of the flows above', () => {
    const secrets = new Set([CLIENTS.deviceBasic.clientSecret, CLIENTS.devicePost.clientSecret, ...seen.deviceCodes]);
    for (const server of seen.servers) for (const d of server.deviceAuthorizations) secrets.add(d.deviceCode);
    assert.ok(secrets.size >= 12, `${secrets.size} secrets`);
    assert.ok(seen.errors.length >= 10, `${seen.errors.length} errors`);
    assert.ok(seen.clients.length >= 10, `${seen.clients.length} clients`);

    const hay = [];
    const add = (where, text) => hay.push({ where, text: String(text) });
    assert.ok(seen.output.includes(CAPTURE_CHECK), 'output was captured');
    for (const line of seen.output) add('console/stdout/stderr', line);
    for (const [where, err] of seen.errors) {
      add(`${where}: message`, err.message);
      add(`${where}: stack`, err.stack);
      add(`${where}: String`, String(err));
      add(`${where}: JSON`, JSON.stringify(err));
      add(`${where}: inspect`, inspect(err, { showHidden: true, depth: null, getters: true }));
      add(`${where}: description`, err.description ?? '');
    }
    seen.clients.forEach((c, i) => {
      add(`client #${i} stats`, JSON.stringify(c.stats()));
      add(`client #${i} inspect`, inspect(c, { showHidden: true, depth: null, getters: true }));
      add(`client #${i} JSON`, JSON.stringify(c));
    });
    seen.authorizations.forEach((a, i) => {
      add(`authorization #${i} inspect`, inspect(a, { showHidden: true, depth: null, getters: true }));
      add(`authorization #${i} JSON`, JSON.stringify(a));
    });
    const leaks = [];
    for (const secret of secrets) {
      assert.ok(typeof secret === 'string' && secret.length >= 16, 'a secret worth searching for');
      for (const { where, text } of hay) {
        if (text.includes(secret)) leaks.push(`${where} contains ${secret.slice(0, 6)}…`);
      }
    }
    assert.deepEqual(leaks, []);
  });
});

// ------------------------------------------------------------------------------------------
// Chromium: the page runs the flow against oidc-provider on another origin (the auth
// server's front answers CORS with `*`); the test approves from Node.


const DEVICE_PAGE = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>edge-oauth device</title><link rel="icon" href="data:,">
<script type="importmap">{"imports":{"edge-oauth":"/pkg/browser.js"}}</script>
</head><body>
<script type="module">
import { TokenClient, TokenError } from 'edge-oauth';
let client;
let authorization;
const failure = (err) => ({ ok: false, isTokenError: err instanceof TokenError, code: err.code, message: err.message });
window.__start = async (options) => {
  try {
    client = new TokenClient(options);
    authorization = await client.startDeviceAuthorization();
    return { ok: true, authorization: { ...authorization }, json: JSON.stringify(authorization) };
  } catch (err) {
    return failure(err);
  }
};
window.__wait = async () => {
  try {
    const token = await authorization.waitForToken();
    return { ok: true, token, again: await client.getToken(), header: await client.authorizationHeader(), stats: client.stats() };
  } catch (err) {
    return failure(err);
  }
};
window.__ready = true;
</script></body></html>`;


describe('device flow in Chromium', { skip: existsSync(CHROMIUM_PATH) ? false : `no Chromium at ${CHROMIUM_PATH}` }, () => {
  let auth;
  let site;
  let browser;
  let page;
  const pageErrors = [];
  before(async () => {
    [auth, site, browser] = await Promise.all([startAuthServer(), startPageServer(DEVICE_PAGE), launchChromium()]);
    page = await browser.newPage();
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    await page.goto(`${site.url}/`);
    await page.waitForFunction(() => window.__ready === true, null, { timeout: 10_000 });
  });
  after(async () => {
    await browser?.close();
    await site?.close();
    await auth?.close();
  });

  it('startDeviceAuthorization (discovery, cross-origin) and waitForToken in the page; approved from Node', async () => {
    const started = await page.evaluate((options) => window.__start(options), {
      issuer: auth.issuer,
      clientId: CLIENTS.device.clientId,
      authMethod: 'none',
      grant: { type: 'device_code' },
      scope: SCOPE,
    });
    assert.equal(started.ok, true, JSON.stringify(started));
    const record = await auth.deviceAuthorization(0);
    assert.equal(started.authorization.userCode, record.userCode);
    assert.equal(started.authorization.verificationUri, auth.verificationUrl);
    assert.equal(started.authorization.interval, 1);
    assert.ok(started.authorization.expiresAt > Date.now() + 590_000);
    assert.ok(!started.json.includes(record.deviceCode));

    const result = page.evaluate(() => window.__wait());
    await answeredPolls(auth, record.deviceCode, 1);
    await auth.approveDeviceCode(record.userCode);
    const outcome = await result;
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
    assert.equal(jwtPayload(outcome.token).client_id, CLIENTS.device.clientId);
    assert.equal(outcome.again, outcome.token);
    assert.deepEqual(outcome.header, ['Authorization', `Bearer ${outcome.token}`]);
    assert.ok(!JSON.stringify(outcome.stats).includes(record.deviceCode));
    assert.deepEqual(pollLog(auth, record.deviceCode), ['400:authorization_pending', '200:']);
    assert.equal(auth.discoveryRequests, 1);
    assert.equal(auth.deviceAuthorizationRequests, 1);
    assert.ok(site.served.includes('/pkg/edge_oauth_bg.wasm'));
    assert.deepEqual(pageErrors, []);
  });
});
