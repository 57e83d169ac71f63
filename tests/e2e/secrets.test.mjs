// Secret-leak test for the built package (pkg/node.js): runs the grant flows with distinctive
// secrets (client secret, username, password, and every access and refresh token the servers
// issue, captured on the wire) and checks that none of them appears in anything the client
// produces: console output and process.stdout/stderr writes during the flows, every error's
// message, stack, String(err), JSON.stringify(err) and util.inspect(err), stats() and
// util.inspect(client).
// Flows: success (client credentials and password, post and basic), wrong secret, wrong
// password, expired and revoked refresh token (fallback), original grant failing after a
// refused refresh, network down, timeout, invalid_response (a token in a malformed body),
// abort, configuration errors, client.fetch recovery and client.fetch failing.
// Run: node --test tests/e2e/secrets.test.mjs
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { inspect } from 'node:util';

import { TokenClient, TokenError } from '../../pkg/node.js';
import { closedPortUrl, startHangingServer } from '../support/auth-server.mjs';
import { startFixtureServer } from '../support/fixture-server.mjs';
import { restartInfoLink, sleepUntil, tapFetch } from '../support/grant-helpers.mjs';
import { startInfoLinkServer } from '../support/infolink-server.mjs';

const CLIENT_ID = 'leak-test-client';
const CLIENT_SECRET = 'SECRET-client-7f3Kq9Zx';
const WRONG_SECRET = 'SECRET-wrong-2Lm8Pv4R';
const USERNAME = 'USERNAME-leak+ops@corp.example';
const PASSWORD = 'PASSWORD-leak&=% 9Qw';
const WRONG_PASSWORD = 'PASSWORD-wrong-5Tn1';
const NEW_PASSWORD = 'PASSWORD-new-8Hs3';
const FIXTURE_TOKEN = 'TOKEN-fixture-malformed-4Rt6';
const FIXTURE_REFRESH = 'TOKEN-fixture-refresh-3Gb2';
// Credentials put into a URL by mistake (refused as config; must not be echoed either).
const URL_USER = 'urluserLeak5Vc';
const URL_PASS = 'urlpassLeak7Kd';

const CAPTURE_CHECK = '[secrets.test capture check]';

/** Every form in which a secret could show up: as is, and encoded as sent on the wire. */
function forms(secret) {
  return [
    secret,
    encodeURIComponent(secret),
    new URLSearchParams({ v: secret }).toString().slice(2),
  ];
}
const basicForms = (id, secret) => [
  Buffer.from(`${id}:${secret}`).toString('base64'),
  Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64'),
  Buffer.from(`${new URLSearchParams({ v: id }).toString().slice(2)}:${new URLSearchParams({ v: secret }).toString().slice(2)}`).toString('base64'),
];

describe('no secret or token leaks', () => {
  let server; // InfoLink fixture (restarted once)
  let fx;
  let hanging;
  const tap = tapFetch();
  const clients = [];
  const errors = [];
  const output = []; // console and stdout/stderr writes during the flows
  const flows = [];

  before(async () => {
    [server, fx, hanging] = await Promise.all([
      startInfoLinkServer({
        clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }],
        users: [{ username: USERNAME, password: PASSWORD }],
      }),
      startFixtureServer(),
      startHangingServer(),
    ]);
  });
  after(async () => {
    await Promise.all([server?.close(), fx?.close(), hanging?.close()]);
  });

  const client = (extra = {}) => {
    const c = new TokenClient({
      tokenUrl: server.tokenUrl,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      authMethod: 'client_secret_post',
      fetch: tap.fetch,
      ...extra,
    });
    clients.push(c);
    return c;
  };
  const passwordClient = (extra = {}) => client({ grant: { type: 'password', username: USERNAME, password: PASSWORD }, ...extra });

  /** Records an expected rejection. */
  async function failure(promise, code) {
    try {
      await promise;
    } catch (err) {
      errors.push(err);
      assert.ok(err instanceof TokenError, inspect(err));
      assert.equal(err.code, code, err.message);
      return err;
    }
    assert.fail(`expected a TokenError ${code}`);
  }

  /** Runs `fn` with console.* and process.stdout/stderr writes recorded (and passed on). */
  async function captured(name, fn) {
    flows.push(name);
    const saved = {};
    for (const level of ['log', 'info', 'warn', 'error', 'debug', 'trace', 'dir']) {
      saved[level] = console[level];
      console[level] = (...args) => {
        output.push(args.map((a) => (typeof a === 'string' ? a : inspect(a, { depth: null, showHidden: true }))).join(' '));
        if (args[0] === CAPTURE_CHECK) return undefined;
        return saved[level].apply(console, args);
      };
    }
    const writes = {};
    for (const stream of [process.stdout, process.stderr]) {
      writes[stream.fd] = stream.write;
      stream.write = function write(chunk, ...rest) {
        output.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
        return writes[stream.fd].call(this, chunk, ...rest);
      };
    }
    const unhandled = (reason) => output.push(`unhandledRejection: ${inspect(reason, { showHidden: true })}`);
    process.on('unhandledRejection', unhandled);
    try {
      console.debug(CAPTURE_CHECK);
      await fn();
      await new Promise((resolve) => setTimeout(resolve, 20)); // late background work
    } finally {
      process.off('unhandledRejection', unhandled);
      for (const stream of [process.stdout, process.stderr]) stream.write = writes[stream.fd];
      Object.assign(console, saved);
    }
  }

  const job = (c) => c.fetch(server.jobUrl, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ appId: '170' }),
  });

  it('flow: success (client credentials, password; post and basic), refreshes, fetch', async () => {
    await captured('success', async () => {
      for (const authMethod of ['client_secret_post', 'client_secret_basic']) {
        const cc = client({ authMethod });
        await cc.getToken();
        await cc.getToken({ forceRefresh: true });
        const pw = passwordClient({ authMethod });
        await pw.getTokenInfo();
        await pw.authorizationHeader();
        assert.equal((await job(pw)).status, 200);
        pw.invalidate();
        assert.equal((await job(pw)).status, 200);
      }
    });
  });

  it('flow: wrong client secret, wrong password', async () => {
    await captured('wrong credentials', async () => {
      await failure(client({ clientSecret: WRONG_SECRET }).getToken(), 'invalid_client');
      await failure(client({ clientSecret: WRONG_SECRET, authMethod: 'client_secret_basic' }).getToken(), 'invalid_client');
      await failure(client({ grant: { type: 'password', username: USERNAME, password: WRONG_PASSWORD } }).getToken(), 'invalid_grant');
      await failure(client({ clientSecret: WRONG_SECRET }).fetch(server.jobUrl, { method: 'POST', body: '{}' }), 'invalid_client');
    });
  });

  it('flow: expired and revoked refresh tokens (fallback), fetch recovery after expiry', async () => {
    await captured('refresh fallback and fetch recovery', async () => {
      const c = passwordClient();
      await c.getToken();
      server.expireAllAccessTokens();
      assert.equal((await job(c)).status, 200); // refresh
      server.expireAllRefreshTokens();
      server.expireAllAccessTokens();
      assert.equal((await job(c)).status, 200); // refused refresh, password grant
      server.revokeRefreshTokens();
      c.invalidate();
      await c.getToken();
      // A short token renewed in the background and on expiry.
      server.setAccessTokenTtl(1);
      const short = passwordClient();
      const info = await short.getTokenInfo();
      await sleepUntil(info.expiresAt - 400);
      await short.getToken();
      await sleepUntil(info.expiresAt + 20);
      await short.getToken();
      server.setAccessTokenTtl(1800);
    });
  });

  it('flow: refresh refused and the original grant refused too (password changed)', async () => {
    await captured('original grant fails', async () => {
      const c = passwordClient();
      const d = client();
      await c.getToken();
      await d.getToken();
      server = await restartInfoLink(server, {
        clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }],
        users: [{ username: USERNAME, password: NEW_PASSWORD }],
      });
      c.invalidate();
      await failure(c.getToken(), 'invalid_grant');
      await failure(job(c), 'invalid_grant');
      d.invalidate();
      await d.getToken(); // refused refresh, client credentials still fine
    });
  });

  it('flow: network down, timeout', async () => {
    await captured('network and timeout', async () => {
      const down = await closedPortUrl();
      await failure(client({ tokenUrl: `${down}/api/v1/oauth2/token`, maxRetries: 1 }).getToken(), 'network');
      await failure(passwordClient({ tokenUrl: `${down}/api/v1/oauth2/token`, maxRetries: 0 }).fetch(server.jobUrl), 'network');
      await failure(passwordClient({ tokenUrl: `${hanging.url}/token`, timeoutMs: 150, maxRetries: 0 }).getToken(), 'timeout');
      await failure(client({ tokenUrl: `${hanging.url}/token`, timeoutMs: 100, maxRetries: 1, authMethod: 'client_secret_basic' }).getToken(), 'timeout');
    });
  });

  it('flow: invalid_response (tokens inside malformed bodies), abort', async () => {
    await captured('invalid_response and abort', async () => {
      const bodies = [
        { status: 200, body: { access_token: FIXTURE_TOKEN, refresh_token: FIXTURE_REFRESH, token_type: 'Bearer', expires_in: 'soon' } },
        { status: 200, body: { access_token: FIXTURE_TOKEN, refresh_token: FIXTURE_REFRESH, token_type: 'Bearer', expires_in: 0 } },
        { status: 200, headers: { 'content-type': 'application/json' }, body: `{"access_token":"${FIXTURE_TOKEN}","refresh_token":"${FIXTURE_REFRESH}",` },
        { status: 200, headers: { 'content-type': 'text/html' }, body: `<p>${FIXTURE_TOKEN} ${FIXTURE_REFRESH}</p>` },
        { status: 400, headers: { 'content-type': 'text/plain' }, body: `bad ${FIXTURE_TOKEN}` },
      ];
      for (const [i, response] of bodies.entries()) {
        fx.script(`/token-${i}`, response);
        for (const grant of [undefined, { type: 'password', username: USERNAME, password: PASSWORD }]) {
          await failure(client({ tokenUrl: `${fx.url}/token-${i}`, maxRetries: 0, grant }).getToken(), 'invalid_response');
        }
      }
      // A refresh answered with garbage after a good token.
      fx.script('/token-r', [
        { body: { access_token: 'TOKEN-fixture-good-1Qa9', refresh_token: 'TOKEN-fixture-rt-6Yh5', token_type: 'Bearer', expires_in: 300 } },
        { status: 200, headers: { 'content-type': 'application/json' }, body: `{"access_token":"${FIXTURE_TOKEN}"` },
      ]);
      const r = client({ tokenUrl: `${fx.url}/token-r`, maxRetries: 0 });
      await r.getToken();
      await failure(r.getToken({ forceRefresh: true }), 'invalid_response');

      const controller = new AbortController();
      const slow = passwordClient({ tokenUrl: `${hanging.url}/token`, timeoutMs: 5000 });
      const pending = slow.getToken({ signal: controller.signal });
      setTimeout(() => controller.abort(), 20); // (an abort in the same tick is slow: see fetch.test.mjs)
      await failure(pending, 'aborted');
    });
  });

  it('flow: configuration errors', async () => {
    await captured('config', async () => {
      const bad = [
        { tokenUrl: 'http://10.1.2.3/api/v1/oauth2/token', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
        { tokenUrl: server.tokenUrl, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, grant: { type: 'password', username: USERNAME } },
        { tokenUrl: server.tokenUrl, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, grant: { type: 'password', password: PASSWORD } },
        { tokenUrl: server.tokenUrl, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, grant: { type: 'implicit', username: USERNAME, password: PASSWORD } },
        { tokenUrl: server.tokenUrl, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, authMethod: 'none' },
        { tokenUrl: server.tokenUrl, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, basicAuthEncoding: 'base64' },
        { tokenUrl: `https://${URL_USER}:${URL_PASS}@auth.example/token`, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
      ];
      for (const options of bad) {
        try {
          new TokenClient(options); // eslint-disable-line no-new
          assert.fail(`expected a config error for ${Object.keys(options).join(',')}`);
        } catch (err) {
          if (err instanceof assert.AssertionError) throw err;
          errors.push(err);
          assert.equal(err.code, 'config', err.message);
        }
      }
    });
  });

  it('nothing the client produced contains a secret or a token', () => {
    assert.ok(flows.length >= 7, 'every flow ran');
    assert.ok(output.some((line) => line === CAPTURE_CHECK), 'the capture works');
    const codes = new Set(errors.map((e) => e.code));
    for (const code of ['invalid_client', 'invalid_grant', 'network', 'timeout', 'invalid_response', 'aborted', 'config']) {
      assert.ok(codes.has(code), `a ${code} error was seen`);
    }
    assert.ok(tap.accessTokens.length >= 15, `access tokens captured: ${tap.accessTokens.length}`);
    assert.ok(tap.refreshTokens.length >= 15, `refresh tokens captured: ${tap.refreshTokens.length}`);

    const secrets = [
      ...[CLIENT_SECRET, WRONG_SECRET, USERNAME, PASSWORD, WRONG_PASSWORD, NEW_PASSWORD, URL_USER, URL_PASS].flatMap(forms),
      ...basicForms(CLIENT_ID, CLIENT_SECRET),
      ...basicForms(CLIENT_ID, WRONG_SECRET),
      ...new Set([...tap.accessTokens, ...tap.refreshTokens, FIXTURE_TOKEN, FIXTURE_REFRESH]),
    ];
    // The flows really sent them (else the test would prove nothing).
    assert.ok(server.log.length > 0);
    assert.ok(tap.requests.some((r) => r.body.includes(forms(CLIENT_SECRET)[2])));
    assert.ok(tap.requests.some((r) => r.body.includes(forms(PASSWORD)[2])));
    assert.ok(tap.requests.some((r) => r.body.includes(forms(USERNAME)[2])));
    assert.ok(tap.requests.some((r) => (r.headers.authorization ?? '').startsWith('Basic ')));

    const hay = [];
    const add = (where, text) => hay.push({ where, text: String(text) });
    for (const line of output) add('console/stdout/stderr', line);
    errors.forEach((err, i) => {
      add(`error #${i} message`, err.message);
      add(`error #${i} stack`, err.stack);
      add(`error #${i} String`, String(err));
      add(`error #${i} JSON`, JSON.stringify(err));
      add(`error #${i} inspect`, inspect(err, { showHidden: true, depth: null, getters: true }));
      add(`error #${i} description`, err.description ?? '');
      add(`error #${i} uri`, err.uri ?? '');
    });
    clients.forEach((c, i) => {
      add(`client #${i} stats`, JSON.stringify(c.stats()));
      add(`client #${i} inspect`, inspect(c, { showHidden: true, depth: null, getters: true }));
      add(`client #${i} JSON`, JSON.stringify(c));
      add(`client #${i} String`, String(c));
    });
    assert.ok(clients.length >= 20, `clients: ${clients.length}`);

    const leaks = [];
    for (const secret of secrets) {
      for (const { where, text } of hay) {
        if (text.includes(secret)) leaks.push(`${where} contains ${secret.slice(0, 12)}…`);
      }
    }
    assert.deepEqual(leaks, []);
  });
});
