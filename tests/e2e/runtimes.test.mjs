// The built package in each runtime it ships for: Node (ESM import), Chromium (through an
// import map, driven by playwright-core) and workerd (through miniflare's programmatic API).
// Run: node --test tests/e2e/runtimes.test.mjs
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { Miniflare } from 'miniflare';

import { CLIENTS, startAuthServer } from '../support/auth-server.mjs';
import { launchChromium } from '../support/chromium.mjs';
import { jwtPayload } from '../support/e2e-helpers.mjs';
import { startPageServer } from '../support/page-server.mjs';

const PKG_DIR = fileURLToPath(new URL('../../pkg/', import.meta.url));

describe('Node', () => {
  it('imports the ESM entry and its exports', async () => {
    const mod = await import('../../pkg/node.js');
    assert.equal(typeof mod.TokenClient, 'function');
    assert.equal(typeof mod.TokenError, 'function');
    assert.ok(Object.create(mod.TokenError.prototype) instanceof Error);
    const manifest = JSON.parse(await readFile(join(PKG_DIR, 'package.json'), 'utf8'));
    assert.equal(manifest.exports['.'].node, './node.js');
    assert.equal(manifest.exports['.'].browser, './browser.js');
    assert.equal(manifest.exports['.'].workerd, './workerd.js');
  });
});

// ------------------------------------------------------------------------------------------
// Browser


function pageHtml(config) {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>edge-oauth</title><link rel="icon" href="data:,">
<script type="importmap">{"imports":{"edge-oauth":"/pkg/browser.js"}}</script>
</head><body>
<script type="module">
import { TokenClient, TokenError } from 'edge-oauth';
const config = ${JSON.stringify(config)};
window.__run = async (count) => {
  const client = new TokenClient(config.options);
  const tokens = await Promise.all(Array.from({ length: count }, () => client.getToken()));
  const info = await client.getTokenInfo();
  const header = await client.authorizationHeader();
  return { unique: [...new Set(tokens)], info, header, stats: client.stats() };
};
window.__fail = async () => {
  try {
    await new TokenClient(config.badOptions).getToken();
    return { ok: true };
  } catch (err) {
    return { ok: false, isTokenError: err instanceof TokenError, name: err.name, code: err.code, status: err.status, message: err.message, stack: String(err.stack) };
  }
};
window.__config = () => {
  try { new TokenClient({ clientId: 'x' }); return null; } catch (err) { return { isTokenError: err instanceof TokenError, code: err.code, message: err.message }; }
};
window.__ready = true;
</script></body></html>`;
}


describe('browser (Chromium through an import map)', () => {
  let auth;
  let site;
  let browser;
  let page;
  const consoleMessages = [];
  const pageErrors = [];
  const wrongSecret = 'browser-wrong-secret-Rt62';

  before(async () => {
    auth = await startAuthServer();
    site = await startPageServer(pageHtml({
      options: { tokenUrl: auth.tokenUrl, clientId: CLIENTS.basic.clientId, clientSecret: CLIENTS.basic.clientSecret, scope: ['api:read'] },
      badOptions: { tokenUrl: auth.tokenUrl, clientId: CLIENTS.basic.clientId, clientSecret: wrongSecret },
    }));
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('console', (msg) => consoleMessages.push(`${msg.type()}: ${msg.text()}`));
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    await page.goto(`${site.url}/`);
    await page.waitForFunction(() => window.__ready === true, null, { timeout: 10_000 });
  });
  after(async () => {
    await browser?.close();
    await site?.close();
    await auth?.close();
  });
  beforeEach(() => auth.resetCounts());

  it('loads the package (wasm served as application/wasm) without errors', () => {
    assert.ok(site.served.includes('/pkg/browser.js'));
    assert.ok(site.served.includes('/pkg/edge_oauth_bg.wasm'));
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(consoleMessages.filter((m) => /^(error|warning)/.test(m)), []);
  });

  it('gets a token in the page; 50 concurrent calls → 1 request', async () => {
    const result = await page.evaluate((n) => window.__run(n), 50);
    assert.equal(result.unique.length, 1);
    const token = result.unique[0];
    assert.equal(jwtPayload(token).client_id, CLIENTS.basic.clientId);
    assert.equal(result.info.accessToken, token);
    assert.equal(result.info.tokenType, 'Bearer');
    assert.equal(result.info.scope, 'api:read');
    assert.ok(result.info.expiresAt > Date.now() + 200_000);
    assert.deepEqual(result.header, ['Authorization', `Bearer ${token}`]);
    assert.equal(auth.tokenRequests, 1);
    assert.equal(auth.requests[0].authMethod, 'basic');
    assert.equal(auth.requests[0].status, 200);
    assert.equal(result.stats.tokenRequests, 1);
  });

  it('a wrong secret rejects with a TokenError invalid_client in the page, secret not shown', async () => {
    const result = await page.evaluate(() => window.__fail());
    assert.equal(result.ok, false);
    assert.equal(result.isTokenError, true);
    assert.equal(result.name, 'TokenError');
    assert.equal(result.code, 'invalid_client');
    assert.equal(result.status, 401);
    assert.ok(!result.message.includes(wrongSecret));
    assert.ok(!result.stack.includes(wrongSecret));
    assert.equal(auth.tokenRequests, 1);
  });

  it('invalid options throw a config TokenError in the page', async () => {
    const result = await page.evaluate(() => window.__config());
    assert.equal(result.isTokenError, true);
    assert.equal(result.code, 'config');
  });
});

// ------------------------------------------------------------------------------------------
// workerd

const WORKER = `
import { TokenClient, TokenError } from './workerd.js';

let client;

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === '/config') {
      try {
        new TokenClient({ tokenUrl: env.TOKEN_URL, clientSecret: env.CLIENT_SECRET });
        return Response.json({ ok: true });
      } catch (err) {
        return Response.json({ ok: false, isTokenError: err instanceof TokenError, code: err.code, message: err.message });
      }
    }
    if (url.pathname === '/bad') {
      try {
        await new TokenClient({ tokenUrl: env.TOKEN_URL, clientId: env.CLIENT_ID, clientSecret: env.WRONG_SECRET }).getToken();
        return Response.json({ ok: true });
      } catch (err) {
        return Response.json({ ok: false, isTokenError: err instanceof TokenError, code: err.code, status: err.status, message: err.message });
      }
    }
    client ??= new TokenClient({
      tokenUrl: env.TOKEN_URL,
      clientId: env.CLIENT_ID,
      clientSecret: env.CLIENT_SECRET,
      authMethod: 'client_secret_post',
      headerName: 'Authentication',
    });
    try {
      const tokens = await Promise.all(Array.from({ length: 20 }, () => client.getToken()));
      const info = await client.getTokenInfo();
      const header = await client.authorizationHeader();
      return Response.json({ ok: true, unique: [...new Set(tokens)], info, header, stats: client.stats() });
    } catch (err) {
      return Response.json({ ok: false, code: err.code, message: err.message }, { status: 500 });
    }
  },
};
`;

describe('workerd (miniflare)', () => {
  let auth;
  let mf;
  const wrongSecret = 'worker-wrong-secret-Lp08';

  before(async () => {
    auth = await startAuthServer();
    mf = new Miniflare({
      modules: [
        { type: 'ESModule', path: join(PKG_DIR, '__test_worker.js'), contents: WORKER },
        { type: 'ESModule', path: join(PKG_DIR, 'workerd.js') },
        { type: 'ESModule', path: join(PKG_DIR, 'client.js') },
        { type: 'ESModule', path: join(PKG_DIR, 'authorized-fetch.js') },
        { type: 'ESModule', path: join(PKG_DIR, 'options.js') },
        { type: 'ESModule', path: join(PKG_DIR, 'device.js') },
        { type: 'ESModule', path: join(PKG_DIR, 'events.js') },
        { type: 'ESModule', path: join(PKG_DIR, 'option-table.js') },
        { type: 'ESModule', path: join(PKG_DIR, 'renewal.js') },
        { type: 'ESModule', path: join(PKG_DIR, 'edge_oauth.js') },
        { type: 'CompiledWasm', path: join(PKG_DIR, 'edge_oauth_bg.wasm') },
      ],
      modulesRoot: PKG_DIR,
      compatibilityDate: '2025-09-01',
      bindings: {
        TOKEN_URL: auth.tokenUrl,
        CLIENT_ID: CLIENTS.post.clientId,
        CLIENT_SECRET: CLIENTS.post.clientSecret,
        WRONG_SECRET: wrongSecret,
      },
    });
    await mf.ready;
  });
  after(async () => {
    await mf?.dispose();
    await auth?.close();
  });
  beforeEach(() => auth.resetCounts());

  it('loads the wasm in workerd; invalid options throw a config TokenError there', async () => {
    const body = await (await mf.dispatchFetch('http://worker.test/config')).json();
    assert.equal(body.ok, false);
    assert.equal(body.isTokenError, true);
    assert.equal(body.code, 'config');
    assert.match(body.message, /clientId/);
    assert.ok(!body.message.includes(CLIENTS.post.clientSecret));
    assert.equal(auth.tokenRequests, 0);
  });

  it('gets a token inside workerd; the second request is a cache hit', async () => {
    const res = await mf.dispatchFetch('http://worker.test/');
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.ok, true);
    assert.equal(body.unique.length, 1);
    const token = body.unique[0];
    assert.equal(jwtPayload(token).client_id, CLIENTS.post.clientId);
    assert.equal(body.info.accessToken, token);
    assert.equal(body.info.tokenType, 'Bearer');
    assert.deepEqual(body.header, ['Authentication', `Bearer ${token}`]);
    assert.equal(auth.tokenRequests, 1);
    assert.equal(auth.requests[0].authMethod, 'post');
    assert.equal(auth.requests[0].status, 200);

    const again = await (await mf.dispatchFetch('http://worker.test/')).json();
    assert.equal(again.ok, true, JSON.stringify(again));
    assert.deepEqual(again.unique, [token]);
    assert.equal(auth.tokenRequests, 1, 'the module-scope client cached the token across requests');
    assert.equal(again.stats.tokenRequests, 1);
  });

  it('a wrong secret gives a TokenError invalid_client inside workerd', async () => {
    const body = await (await mf.dispatchFetch('http://worker.test/bad')).json();
    assert.equal(body.ok, false);
    assert.equal(body.isTokenError, true);
    assert.equal(body.code, 'invalid_client');
    assert.equal(body.status, 401);
    assert.ok(!body.message.includes(wrongSecret));
    assert.equal(auth.tokenRequests, 1);
  });
});
