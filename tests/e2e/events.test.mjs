// The `onEvent` option: each event the client sends, with the fields its contract names, from
// a scripted token endpoint (retries, failures, stale tokens, refusals) and the real
// oidc-provider (the device flow's polls); none for cache hits; none with a secret; and a
// listener that throws does not break the client.
// Run: node --test tests/e2e/events.test.mjs
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { TokenClient } from '../../pkg/node.js';
import { CLIENTS, startAuthServer } from '../support/auth-server.mjs';
import { sleep, waitFor } from '../support/e2e-helpers.mjs';
import { startFixtureServer } from '../support/fixture-server.mjs';

const SECRET = 'events-secret-Rk51';
const TOKEN = (n) => `events-token-${n}-Xq`;
const REFRESH = 'events-refresh-Tz88';
const ok = (n, extra = {}) => ({ status: 200, body: { access_token: TOKEN(n), token_type: 'Bearer', expires_in: 3600, ...extra } });

let fx;
let auth;

before(async () => {
  [fx, auth] = await Promise.all([startFixtureServer(), startAuthServer()]);
});

after(async () => {
  await Promise.all([fx?.close(), auth?.close()]);
});

/** A client of the fixture server's `path`, recording its events. */
function recorded(path, extra = {}) {
  const events = [];
  const client = new TokenClient({
    tokenUrl: `${fx.url}${path}`,
    clientId: 'events-client',
    clientSecret: SECRET,
    onEvent: (event) => events.push(event),
    ...extra,
  });
  return { client, events };
}

const types = (events) => events.map((e) => e.type);

describe('onEvent', () => {
  it('a cold renewal: renewal (cold), request, token; cache hits send nothing', async () => {
    fx.script('/cold', [ok(1)]);
    const { client, events } = recorded('/cold');
    await client.getToken();
    assert.deepEqual(events.slice(0, 2), [
      { type: 'renewal', reason: 'cold' },
      { type: 'request', grant: 'client_credentials', attempt: 1 },
    ]);
    assert.equal(events[2].type, 'token');
    assert.equal(events[2].grant, 'client_credentials');
    assert.equal(events[2].refreshed, false);
    assert.ok(Math.abs(events[2].expiresAt - (Date.now() + 3_600_000)) < 5_000);
    const count = events.length;
    for (let i = 0; i < 100; i++) await client.getToken();
    await client.getTokenInfo();
    assert.equal(events.length, count, 'no event for cache hits');
  });

  it('retries: retry { attempt, waitMs, code } between the requests', async () => {
    fx.script('/retry', [
      { status: 503, headers: { 'retry-after': '1' }, body: { error: 'temporarily_unavailable' } },
      ok(2),
    ]);
    const { client, events } = recorded('/retry');
    await client.getToken();
    assert.deepEqual(types(events), ['renewal', 'request', 'retry', 'request', 'token']);
    assert.deepEqual(events[2], { type: 'retry', attempt: 1, waitMs: 1000, code: 'temporarily_unavailable' });
    assert.equal(events[3].attempt, 2);
  });

  it('a failure: failure { code, status, retryAfter }', async () => {
    fx.script('/fail', [{ status: 401, body: { error: 'invalid_client', error_description: `bad ${SECRET}` } }]);
    const { client, events } = recorded('/fail');
    await assert.rejects(client.getToken(), { code: 'invalid_client' });
    const failure = events.at(-1);
    assert.equal(failure.type, 'failure');
    assert.equal(failure.code, 'invalid_client');
    assert.equal(failure.status, 401);
    assert.ok(failure.retryAfter >= 1);
    assert.ok(!JSON.stringify(events).includes(SECRET), 'no secret in any event');
  });

  it('forced, refresh ahead with a refresh token, and stale when that refresh fails', async () => {
    // A 4 s token is fresh for 2 s (refresh ahead shrinks to half the lifetime) and served
    // until 1 s before its expiry (the margin shrinks to a quarter).
    fx.script('/ahead', [ok(3, { refresh_token: REFRESH }), ok(4, { expires_in: 4 })]);
    const { client, events } = recorded('/ahead');
    await client.getToken();
    await client.getToken({ forceRefresh: true });
    assert.deepEqual(events.filter((e) => e.type === 'renewal').map((e) => e.reason), ['cold', 'forced']);
    const refreshed = events.filter((e) => e.type === 'token').at(-1);
    assert.equal(refreshed.grant, 'refresh_token');
    assert.equal(refreshed.refreshed, true);
    // Inside the refresh-ahead window: served at once, refreshed behind; the refresh fails.
    fx.script('/ahead', [{ status: 503, body: { error: 'temporarily_unavailable' } }]);
    await sleep(2200);
    await client.getToken();
    await waitFor(() => events.some((e) => e.type === 'stale' || e.type === 'failure'), 3000, 'the background refresh');
    const reasons = events.filter((e) => e.type === 'renewal').map((e) => e.reason);
    assert.equal(reasons.at(-1), 'refresh_ahead');
    const stale = events.find((e) => e.type === 'stale');
    assert.ok(stale, JSON.stringify(events));
    assert.ok(stale.expiresAt > Date.now());
    assert.ok(!JSON.stringify(events).includes(REFRESH) && !JSON.stringify(events).includes(TOKEN(3)));
  });

  it('a token an API refused: renewal (refused)', async () => {
    fx.script('/refused', [ok(5), ok(6)]);
    fx.script('/api', [{ status: 401, body: '' }, { status: 200, body: 'ok' }]);
    const { client, events } = recorded('/refused');
    const response = await client.fetch(`${fx.url}/api`);
    assert.equal(response.status, 200);
    assert.deepEqual(events.filter((e) => e.type === 'renewal').map((e) => e.reason), ['cold', 'refused']);
  });

  it('a listener that throws changes nothing', async () => {
    fx.script('/throws', [ok(7)]);
    const client = new TokenClient({
      tokenUrl: `${fx.url}/throws`, clientId: 'events-client', clientSecret: SECRET,
      onEvent: () => { throw new Error('listener bug'); },
    });
    assert.equal(await client.getToken(), TOKEN(7));
  });

  it('onEvent must be a function', () => {
    assert.throws(() => new TokenClient({ tokenUrl: `${fx.url}/x`, clientId: 'c', clientSecret: 's', onEvent: 'log' }), {
      code: 'config', message: /onEvent must be a function/,
    });
  });

  it('the device flow: request (device_code) and device_poll pending, slow_down, approved; then token', async () => {
    const events = [];
    const client = new TokenClient({
      issuer: auth.issuer, clientId: CLIENTS.device.clientId, authMethod: 'none',
      grant: { type: 'device_code' }, scope: 'openid offline_access api:read',
      onEvent: (event) => events.push(event),
    });
    const authorization = await client.startDeviceAuthorization();
    auth.slowDown(1);
    const approving = waitFor(() => events.filter((e) => e.type === 'device_poll').length >= 2, 15_000, 'two polls')
      .then(() => auth.approveDeviceCode(authorization.userCode));
    await authorization.waitForToken();
    await approving;
    const polls = events.filter((e) => e.type === 'device_poll').map((e) => e.result);
    assert.deepEqual(polls, ['slow_down', 'pending', 'approved']);
    assert.deepEqual(events.filter((e) => e.type === 'request').map((e) => [e.grant, e.attempt]), [['device_code', 1], ['device_code', 2], ['device_code', 3]]);
    const token = events.at(-1);
    assert.equal(token.type, 'token');
    assert.equal(token.grant, 'device_code');
    const deviceCode = auth.deviceAuthorizations.at(-1).deviceCode;
    assert.ok(!JSON.stringify(events).includes(deviceCode), 'no device code in any event');
  });

  it('the device flow: denied and expired', async () => {
    const server = await startAuthServer({ deviceCodeTtl: 2 });
    try {
      for (const [result, act] of [['denied', (code) => server.denyDeviceCode(code)], ['expired', () => {}]]) {
        const events = [];
        const client = new TokenClient({
          issuer: server.issuer, clientId: CLIENTS.device.clientId, authMethod: 'none',
          grant: { type: 'device_code' }, onEvent: (event) => events.push(event),
        });
        const authorization = await client.startDeviceAuthorization();
        await act(authorization.userCode);
        await assert.rejects(authorization.waitForToken());
        const polls = events.filter((e) => e.type === 'device_poll').map((e) => e.result);
        if (result === 'denied') assert.equal(polls.at(-1), 'denied', JSON.stringify(events));
        else assert.ok(polls.at(-1) === 'expired' || events.at(-1).code === 'expired_token', JSON.stringify(events));
        assert.equal(events.at(-1).type, 'failure');
      }
    } finally {
      await server.close();
    }
  });
});
