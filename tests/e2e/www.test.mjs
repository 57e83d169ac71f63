// The browser token tool (www/) in headless Chromium against the real authorization server.
// Run: node --test tests/e2e/www.test.mjs
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { after, before, test } from 'node:test';

import { startSandbox, startWwwServer } from '../../www/serve.mjs';
import { API_SCOPES, CLIENTS, closedPortUrl, startAuthServer } from '../support/auth-server.mjs';
import { launchChromium } from '../support/chromium.mjs';
import { jwtPayload } from '../support/e2e-helpers.mjs';
import { INFOLINK_CLIENT, INFOLINK_USER, startInfoLinkServer } from '../support/infolink-server.mjs';
import { axeViolations, decodeQrScreenshot, saveScreenshot, storageSnapshot } from '../support/www-helpers.mjs';

const SECRET = CLIENTS.basic.clientSecret;
const WRONG_SECRET = 'wrong-secret-Qp93xv';
const SCREENSHOT = '/tmp/www.png';

/** A tiny API for "Try it": answers CORS and echoes the Authorization header it got. */
async function startEchoApi() {
  const seen = [];
  const server = http.createServer((req, res) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        'Access-Control-Allow-Methods': 'GET, POST',
        'Access-Control-Allow-Headers': 'Authorization',
      });
      res.end();
      return;
    }
    seen.push(req.headers.authorization);
    const body = JSON.stringify({ ok: true, method: req.method, authorization: req.headers.authorization ?? null });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${server.address().port}/api/me`,
    seen,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

let auth;
let www;
let api;
let browser;
let sandbox; // startSandbox with 6-second tokens
let sandboxWww;
let infolink;

const SHORT_TTL = 6;

before(async () => {
  [auth, www, api, browser, sandbox, infolink] = await Promise.all([
    startAuthServer({ port: 0 }),
    startWwwServer({ port: 0 }),
    startEchoApi(),
    launchChromium({ chromiumSandbox: false }),
    startSandbox({ accessTokenTtl: SHORT_TTL }),
    startInfoLinkServer({ accessTokenTtl: 600 }),
  ]);
  sandboxWww = await startWwwServer({ port: 0, sandbox });
});

after(async () => {
  await Promise.allSettled([browser?.close(), www?.close(), auth?.close(), api?.close(),
    sandboxWww?.close(), sandbox?.close(), infolink?.close()]);
});

test('the token tool gets, shows, caches and tries a token without leaking secrets', { timeout: 30_000 }, async (t) => {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  t.after(() => context.close());
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(www.url).origin });
  const page = await context.newPage();
  page.setDefaultTimeout(5000);

  const pageErrors = [];
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  page.on('console', (msg) => {
    if (/Content Security Policy|Refused to/i.test(msg.text())) pageErrors.push(msg.text());
  });

  const text = (selector) => page.textContent(selector).then((s) => s.trim());
  /** Clicks and waits until the page has finished that action. */
  const act = async (selector) => {
    const before = Number(await page.getAttribute('#status', 'data-done'));
    await page.click(selector);
    await page.waitForFunction((n) => Number(document.querySelector('#status').dataset.done) > n, before);
  };
  /** Neither secret (nor `also`) in the page text, the markup, or any storage. */
  const assertNoLeaks = async (also = []) => {
    const found = await page.evaluate(() => ({
      text: document.body.innerText,
      html: document.documentElement.outerHTML,
      local: JSON.stringify(Object.entries(localStorage)),
      session: JSON.stringify(Object.entries(sessionStorage)),
      cookie: document.cookie,
    }));
    for (const needle of [SECRET, WRONG_SECRET, ...also]) {
      for (const [where, value] of Object.entries(found)) {
        assert.ok(!value.includes(needle), `${needle.slice(0, 6)}… found in ${where}`);
      }
    }
  };

  await page.goto(www.url);
  await page.waitForFunction(() => document.querySelector('#status').textContent.startsWith('Ready'));

  await t.test('every input has a label', async () => {
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
      .filter((el) => el.labels.length === 0 && !el.getAttribute('aria-label'))
      .map((el) => el.id || el.name));
    assert.deepEqual(unlabelled, []);
  });

  let token;
  await t.test('Get token shows a shortened JWT, its decoded claims and the stats', async () => {
    await page.selectOption('#endpointKind', 'tokenUrl');
    await page.fill('#tokenUrl', auth.tokenUrl);
    await page.fill('#clientId', CLIENTS.basic.clientId);
    await page.fill('#clientSecret', SECRET);
    await page.selectOption('#authMethod', 'client_secret_basic');
    await page.fill('#scope', API_SCOPES);
    await act('#getToken');

    assert.equal(await page.isVisible('#error'), false, await text('#error'));
    const short = await text('#tokenShort');
    assert.match(short, /^eyJ[A-Za-z0-9_-]{9}…[A-Za-z0-9_-]{6}$/);
    assert.equal(await text('#tokenType'), 'Bearer');
    assert.equal(await text('#scopeOut'), API_SCOPES);
    assert.match(await text('#authHeader'), /^\["Authorization", "Bearer eyJ[A-Za-z0-9_-]{9}…[A-Za-z0-9_-]{6}"\]$/);
    assert.match(await text('#countdown'), /^in [45]:\d\d$/);
    assert.match(await text('#jwt h3'), /decoded, not verified/);
    const payload = JSON.parse(await text('#jwtPayload'));
    assert.equal(typeof payload.exp, 'number');
    assert.equal(payload.scope, API_SCOPES);
    assert.equal(payload.client_id, CLIENTS.basic.clientId);
    assert.equal(JSON.parse(await text('#jwtHeader')).alg, 'RS256');
    assert.equal(await text('#stat-tokenRequests'), '1');
    assert.equal(auth.tokenRequests, 1);
    assert.equal(auth.requests[0].authMethod, 'basic');

    // "copy" puts the full token on the clipboard; the page never shows it.
    await page.click('#copy');
    await page.waitForFunction(() => document.querySelector('#copyStatus').textContent === 'copied');
    token = await page.evaluate(() => navigator.clipboard.readText());
    assert.ok(token.startsWith(short.slice(0, 12)) && token.endsWith(short.slice(-6)), 'clipboard holds the shown token');
    assert.deepEqual(jwtPayload(token), payload);
    await assertNoLeaks([token]);
  });

  await t.test('Get token again is answered from the cache', async () => {
    await act('#getToken');
    assert.equal(auth.tokenRequests, 1);
    assert.equal(await text('#stat-tokenRequests'), '1');
    assert.ok(Number(await text('#stat-cacheHits')) >= 1);
    assert.match(await text('#status'), /from the cache/);
  });

  await t.test('Try it sends the authorization header and shows the response', async () => {
    await page.fill('#apiUrl', api.url);
    await page.selectOption('#apiMethod', 'GET');
    await act('#send');
    assert.equal(await page.isVisible('#tryError'), false, await text('#tryError'));
    assert.equal(await text('#tryStatus'), '200 OK');
    assert.deepEqual(api.seen, [`Bearer ${token}`]);
    const body = await text('#tryBody');
    assert.match(body, /"authorization": "Bearer eyJ[A-Za-z0-9_-]{9}…[A-Za-z0-9_-]{6}"/, 'the echoed token is masked');
    assert.equal(auth.tokenRequests, 1);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await assertNoLeaks([token]);

    // A network failure (not a TokenError) lands in Try it's own error panel.
    await page.fill('#apiUrl', `${await closedPortUrl()}/api`);
    await act('#send');
    assert.equal(await page.isVisible('#tryError'), true);
    assert.equal(await text('#tryError [data-err="code"]'), 'TypeError');
    assert.equal(await page.isVisible('#error'), false);
  });

  await t.test('Invalidate drops the token; Force refresh always asks', async () => {
    await act('#invalidate');
    assert.equal(await text('#tokenShort'), '—');
    await act('#getToken');
    assert.equal(auth.tokenRequests, 2);
    await act('#forceRefresh');
    assert.equal(auth.tokenRequests, 3);
    assert.equal(await text('#stat-tokenRequests'), '3');
    assert.match(await text('#tokenShort'), /^eyJ/);
  });

  await t.test('a wrong secret shows invalid_client in the error panel', async () => {
    await page.fill('#clientSecret', WRONG_SECRET);
    await act('#getToken');
    assert.equal(await page.isVisible('#error'), true);
    assert.equal(await text('#error [data-err="code"]'), 'invalid_client');
    assert.equal(await text('#error [data-err="status"]'), '401');
    assert.notEqual(await text('#error [data-err="message"]'), '—');
    assert.equal(await text('#tokenShort'), '—');
    assert.equal(await text('#stat-failures'), '1');
    await assertNoLeaks([token]);
  });

  await t.test('non-secret fields are remembered, the secret is not', async () => {
    const stored = await page.evaluate(() => JSON.parse(localStorage.getItem('edge-oauth-www:fields')));
    assert.equal(stored.clientId, CLIENTS.basic.clientId);
    assert.equal(stored.tokenUrl, auth.tokenUrl);
    assert.ok(!('clientSecret' in stored));
    await page.reload();
    await page.waitForFunction(() => document.querySelector('#status').textContent.startsWith('Ready'));
    assert.equal(await page.inputValue('#clientId'), CLIENTS.basic.clientId);
    assert.equal(await page.inputValue('#clientSecret'), '');
    // A URL that carries a credential (user and password, or a query) is not remembered.
    const setField = (id, value) => page.evaluate(([id, value]) => {
      const el = document.getElementById(id);
      el.value = value;
      el.dispatchEvent(new Event('input', { bubbles: true }));
    }, [id, value]);
    const storedField = async (id) => JSON.parse(await page.evaluate(() => localStorage.getItem('edge-oauth-www:fields')))[id];
    await setField('apiUrl', 'https://api.example.test/plain');
    assert.equal(await storedField('apiUrl'), 'https://api.example.test/plain');
    await setField('apiUrl', 'https://user:pa55-Kw9@api.example.test/x');
    assert.equal(await storedField('apiUrl'), '');
    await setField('issuer', 'https://idp.example.test/?api_key=key-Lm7');
    const again = await page.evaluate(() => localStorage.getItem('edge-oauth-www:fields'));
    assert.ok(!again.includes('pa55-Kw9') && !again.includes('key-Lm7'), again);
    assert.ok(again.includes(JSON.stringify(auth.tokenUrl)), 'a plain URL still is');
    await setField('apiUrl', '');
    await setField('issuer', '');
    await assertNoLeaks([token]);
  });

  await t.test('fits a narrow screen', async () => {
    await page.setViewportSize({ width: 360, height: 800 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than the viewport`);
  });

  assert.deepEqual(pageErrors, []);
});

test('presets, the sandbox, refresh ahead, the device flow, the password grant, errors in words, accessibility', { timeout: 45_000 }, async (t) => {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  t.after(() => context.close());
  const origin = new URL(sandboxWww.url).origin;
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
  const page = await context.newPage();
  page.setDefaultTimeout(8000);

  // Console errors: none, except the browser's own "Failed to load resource" line for the
  // HTTP statuses a step provokes on purpose (401 for a wrong secret, 400 for
  // authorization_pending polls).
  const consoleErrors = [];
  let expectedStatuses = new Set();
  page.on('pageerror', (err) => consoleErrors.push(String(err)));
  page.on('console', (msg) => {
    if (msg.type() !== 'error' && !/Content Security Policy|Refused to/i.test(msg.text())) return;
    const status = /Failed to load resource: the server responded with a status of (\d{3})/.exec(msg.text());
    if (status && expectedStatuses.has(Number(status[1]))) return;
    consoleErrors.push(msg.text());
  });

  const text = (selector) => page.textContent(selector).then((s) => s.trim());
  const done = () => page.getAttribute('#status', 'data-done').then(Number);
  const act = async (selector) => {
    const before = await done();
    await page.click(selector);
    await page.waitForFunction((n) => Number(document.querySelector('#status').dataset.done) > n, before);
  };
  const fields = (ids) => page.evaluate((list) => Object.fromEntries(list.map((id) => {
    const el = document.getElementById(id);
    return [id, el.type === 'checkbox' ? el.checked : el.value];
  })), ids);

  /** Secrets, passwords, tokens and device codes that must never reach storage. */
  const neverStored = [CLIENTS.basic.clientSecret, CLIENTS.post.clientSecret, WRONG_SECRET,
    INFOLINK_CLIENT.clientSecret, INFOLINK_USER.password];
  const checkStorage = async (step) => {
    const stored = await storageSnapshot(page);
    for (const [where, value] of Object.entries(stored)) {
      assert.ok(!value.includes('eyJ'), `${step}: a JWT in ${where}`);
      for (const needle of neverStored) {
        assert.ok(!value.includes(needle), `${step}: ${needle.slice(0, 6)}… in ${where}`);
      }
    }
  };
  /** After each state: no storage leak, no axe violation, a screenshot. */
  const checkState = async (name) => {
    await checkStorage(name);
    assert.deepEqual(await axeViolations(page), [], `axe, state ${name}`);
    await saveScreenshot(page, name);
  };
  const copyToken = async () => {
    await page.click('#copy');
    await page.waitForFunction(() => document.querySelector('#copyStatus').textContent === 'copied');
    return page.evaluate(() => navigator.clipboard.readText());
  };

  await page.goto(`${sandboxWww.url}?preset=sandbox`);
  await page.waitForFunction(() => document.querySelector('#status').textContent.startsWith('Ready'));

  await t.test('the sandbox preset is filled in from the URL', async () => {
    const s = sandbox.settings;
    assert.deepEqual(await fields(['preset', 'endpointKind', 'tokenUrl', 'clientId', 'clientSecret', 'authMethod', 'grantType', 'scope']), {
      preset: 'sandbox', endpointKind: 'tokenUrl', tokenUrl: s.tokenUrl, clientId: CLIENTS.basic.clientId,
      clientSecret: CLIENTS.basic.clientSecret, authMethod: 'client_secret_basic', grantType: 'client_credentials', scope: API_SCOPES,
    });
    assert.match(await text('#devNote'), /Development tooling only/);
    await checkState('01-ready');
  });

  await t.test('each vendor preset fills in what its system needs', async () => {
    const cases = {
      ainua: { endpointKind: 'keycloak', kcRealm: 'ncp', authMethod: 'client_secret_post', headerName: 'Authentication', grantType: 'client_credentials', clientSecret: '' },
      apiture: { endpointKind: 'issuer', issuer: 'https://auth.apiture.com/oidc', authMethod: 'client_secret_basic', scope: 'banking/read banking/write', grantType: 'client_credentials', headerName: '' },
      'keycloak-api': { endpointKind: 'keycloak', authMethod: 'client_secret_post', grantType: 'client_credentials', headerName: '', scope: '' },
      infolink: { endpointKind: 'tokenUrl', tokenUrl: 'http://<host>/api/v1/oauth2/token', allowInsecureHttp: true, authMethod: 'client_secret_post', grantType: 'password' },
    };
    for (const [preset, expected] of Object.entries(cases)) {
      await page.selectOption('#preset', preset);
      assert.deepEqual(await fields(Object.keys(expected)), expected, preset);
      assert.notEqual(await text('#presetNote'), '');
    }
    assert.equal(await page.isVisible('#username'), true, 'the password grant shows username and password');
    assert.equal(await page.isVisible('#kcBaseUrl'), false);
    await checkState('02-preset-infolink');
  });

  let firstToken;
  await t.test('the sandbox gives a token in one click; the countdown advances; a background refresh comes inside the window', async () => {
    await page.selectOption('#preset', 'sandbox');
    await act('#getToken');
    assert.equal(await page.isVisible('#error'), false, await text('#error'));
    assert.equal(sandbox.auth.requests.at(-1).authMethod, 'basic');
    firstToken = await text('#tokenShort');
    assert.match(firstToken, /^eyJ/);
    // The client's rules: lifetime from the token's arrival to its expiry (the JWT's exp may
    // cut a little off the 6 s); refresh ahead min(60, lifetime/2), margin min(10, lifetime/4).
    const lifetime = Number(await page.getAttribute('#lifetime', 'data-seconds'));
    assert.ok(lifetime > 4 && lifetime <= SHORT_TTL + 0.5, `lifetime ${lifetime}`);
    const tenths = (s) => String(Math.round(s * 10) / 10);
    assert.equal(await text('#lifetime'),
      `${tenths(lifetime)} s; refresh ahead in the last ${tenths(lifetime / 2)} s, expiry margin ${tenths(lifetime / 4)} s`);
    assert.equal(await page.isVisible('#lifeBar'), true);
    const left1 = Number(await page.getAttribute('#lifeBar', 'aria-valuenow'));
    const countdown1 = await text('#countdown');
    await checkState('03-token');
    await page.waitForTimeout(1100);
    const left2 = Number(await page.getAttribute('#lifeBar', 'aria-valuenow'));
    assert.ok(left2 < left1, `the bar advances (${left1} -> ${left2})`);
    assert.notEqual(await text('#countdown'), countdown1);
    // The zones sit at the end of the bar: refresh ahead from 50 %, margin the last 25 %.
    assert.equal(await page.evaluate(() => document.querySelector('#lifeAhead').style.left), '50%');
    assert.equal(await page.evaluate(() => document.querySelector('#lifeMargin').style.left), '75%');

    const requestsBefore = sandbox.auth.tokenRequests;
    await page.waitForSelector('#events li[data-type="renewal"][data-reason="refresh_ahead"]', { timeout: 6000 });
    await page.waitForFunction((old) => document.querySelector('#tokenShort').textContent.trim() !== old, firstToken, { timeout: 4000 });
    assert.ok(sandbox.auth.tokenRequests > requestsBefore);
    const log = await page.$$eval('#events li', (items) => items.map((li) => li.textContent));
    const refreshAt = log.findIndex((line) => /renewal — refresh_ahead/.test(line));
    const tokenAt = log.findIndex((line) => /token — client_credentials, refreshed/.test(line));
    assert.ok(tokenAt !== -1 && tokenAt < refreshAt, `newest first: the refreshed token above its renewal\n${log.join('\n')}`);
    assert.match(log[0], /^\d\d:\d\d:\d\d\.\d{3} /, 'each event has its time');
    // The renewal happened inside the window: after the first token's refresh-ahead point, before it expired.
    await checkState('04-refreshed');
  });

  await t.test('client_secret_post, then a wrong secret explained in words', async () => {
    await page.selectOption('#preset', '');
    await page.fill('#clientId', CLIENTS.post.clientId);
    await page.fill('#clientSecret', CLIENTS.post.clientSecret);
    await page.selectOption('#authMethod', 'client_secret_post');
    await act('#getToken');
    assert.equal(await page.isVisible('#error'), false, await text('#error'));
    assert.equal(sandbox.auth.requests.at(-1).authMethod, 'post');
    assert.equal(sandbox.auth.requests.at(-1).clientId, CLIENTS.post.clientId);
    assert.match(await text('#tokenShort'), /^eyJ/);
    await checkStorage('post');

    expectedStatuses = new Set([401]);
    await page.fill('#clientSecret', WRONG_SECRET);
    await act('#getToken');
    assert.equal(await text('#error [data-err="code"]'), 'invalid_client');
    assert.equal(await text('#error [data-err="explain"]'), 'invalid_client: the server rejected the client id or secret (or the auth method).');
    assert.match(await text('#events li:first-child'), /failure — invalid_client \(HTTP 401\)/);
    await checkState('05-invalid-client');
    expectedStatuses = new Set();
  });

  await t.test('the device flow: user code, QR code, polling, approval, token', async () => {
    await page.selectOption('#preset', 'sandbox-device');
    assert.deepEqual(await fields(['endpointKind', 'issuer', 'clientId', 'clientSecret', 'authMethod', 'grantType']), {
      endpointKind: 'issuer', issuer: sandbox.settings.issuer, clientId: CLIENTS.device.clientId, clientSecret: '', authMethod: 'none', grantType: 'device_code',
    });
    assert.equal(await text('#getToken'), 'Start sign-in');
    expectedStatuses = new Set([400]);
    const before = await done();
    await page.click('#getToken');
    await page.waitForSelector('#userCode:not(:empty)');
    const userCode = await text('#userCode');
    const issued = await sandbox.auth.deviceAuthorization(0);
    assert.equal(userCode, issued.userCode);
    neverStored.push(issued.deviceCode);
    const complete = issued.response.verification_uri_complete;
    assert.match(complete, /^http:\/\/127\.0\.0\.1:\d+\/device\?user_code=/);
    assert.equal(await page.getAttribute('#verifyLink', 'href'), complete);
    assert.equal(await decodeQrScreenshot(page, '#qr'), complete, 'the QR code holds verificationUriComplete');
    await page.waitForSelector('#events li[data-type="device_poll"]');
    assert.match(await text('#devicePoll'), /^Poll \d+ at .*: waiting for the user to approve\.$/);
    await checkState('06-device-waiting');

    await sandbox.approve(userCode);
    await page.waitForFunction((n) => Number(document.querySelector('#status').dataset.done) > n, before, { timeout: 8000 });
    assert.equal(await page.isVisible('#error'), false, await text('#error'));
    assert.equal(await page.isVisible('#device'), false);
    assert.match(await text('#tokenShort'), /^eyJ/);
    assert.match(await text('#events li:first-child'), /token — device_code/);
    assert.ok(await page.$('#events li[data-type="device_poll"]'));
    assert.match(await page.$$eval('#events li', (items) => items.map((li) => li.textContent).join('\n')), /device_poll — approved/);
    await checkState('07-device-token');
    expectedStatuses = new Set();
  });

  await t.test('the password grant (the InfoLink fixture)', async () => {
    await page.selectOption('#preset', 'infolink');
    await page.fill('#tokenUrl', infolink.tokenUrl);
    await page.fill('#clientId', INFOLINK_CLIENT.clientId);
    await page.fill('#clientSecret', INFOLINK_CLIENT.clientSecret);
    await page.fill('#username', INFOLINK_USER.username);
    await page.fill('#password', INFOLINK_USER.password);
    await act('#getToken');
    assert.equal(await page.isVisible('#error'), false, await text('#error'));
    assert.equal(infolink.requests.at(-1).grantType, 'password');
    assert.equal(await page.isVisible('#notJwt'), true);
    const token = await copyToken();
    neverStored.push(token);
    assert.ok(!(await page.evaluate(() => document.body.innerText)).includes(token), 'the page shows the token shortened only');
    assert.match(await text('#events li:first-child'), /token — password/);
    await checkState('08-password');
    const stored = await page.evaluate(() => JSON.parse(localStorage.getItem('edge-oauth-www:fields')));
    assert.equal(stored.username, INFOLINK_USER.username);
    assert.ok(!('password' in stored) && !('clientSecret' in stored));
  });

  await t.test('keyboard: the form is reachable and usable by Tab', async () => {
    await page.focus('#preset');
    const order = [];
    for (let i = 0; i < 8; i += 1) {
      await page.keyboard.press('Tab');
      order.push(await page.evaluate(() => document.activeElement?.id));
    }
    assert.ok(order.includes('endpointKind') && order.includes('clientId'), order.join(' '));
    // Enter in a field submits (Get token).
    const before = await done();
    await page.focus('#clientId');
    await page.keyboard.press('Enter');
    await page.waitForFunction((n) => Number(document.querySelector('#status').dataset.done) > n, before);
  });

  await t.test('dark colour scheme and 360 px', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    await checkState('09-dark');
    await page.setViewportSize({ width: 360, height: 800 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than the viewport`);
    await checkState('10-dark-360');
    await page.emulateMedia({ colorScheme: 'light' });
    await checkState('11-light-360');
  });

  assert.deepEqual(consoleErrors, []);
});
