// The browser token tool (www/) in headless Chromium against the real authorization server.
// Run: node --test tests/e2e/www.test.mjs
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { after, before, test } from 'node:test';

import { startWwwServer } from '../../www/serve.mjs';
import { API_SCOPES, CLIENTS, closedPortUrl, startAuthServer } from '../support/auth-server.mjs';
import { launchChromium } from '../support/chromium.mjs';
import { jwtPayload } from '../support/e2e-helpers.mjs';

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

before(async () => {
  [auth, www, api, browser] = await Promise.all([
    startAuthServer({ port: 0 }),
    startWwwServer({ port: 0 }),
    startEchoApi(),
    launchChromium({ chromiumSandbox: false }),
  ]);
});

after(async () => {
  await Promise.allSettled([browser?.close(), www?.close(), auth?.close(), api?.close()]);
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
    await assertNoLeaks([token]);
  });

  await t.test('fits a narrow screen', async () => {
    await page.setViewportSize({ width: 360, height: 800 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than the viewport`);
  });

  assert.deepEqual(pageErrors, []);
});
