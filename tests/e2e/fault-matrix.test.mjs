// The fault matrix of issue 10: one test per row of "What must hold", for the npm package in
// Node (pkg/node.js) and for the Worker in workerd through miniflare (build/) where the row
// applies. Faults come from the real oidc-provider where it can produce them (wrong client
// secret, tokens for an origin that refuses them), from the scripted fixture server
// (429/500/odd bodies, discovery documents), and from tests/support/fault-server.mjs where
// an answer needs code (a body that trickles in, a 64 MiB chunked body, an IdP that echoes
// the request). Figures are asserted as counts (requests the servers counted, status codes);
// times only as generous bounds.
// Run: node --test tests/e2e/fault-matrix.test.mjs
import assert from 'node:assert/strict';
import http from 'node:http';
import zlib from 'node:zlib';
import { after, before, describe, it } from 'node:test';

import { TokenClient, TokenError } from '../../pkg/node.js';
import { CLIENTS, startAuthServer, startHangingServer } from '../support/auth-server.mjs';
import {
  assertNoLeak, countingFetch, rejectsWith, sleep, throwsConfig, unsignedJwt, waitFor,
} from '../support/e2e-helpers.mjs';
import { startEchoOrigin } from '../support/echo-origin.mjs';
import { hugeBody, sendJson, slowBody, startFaultServer } from '../support/fault-server.mjs';
import { startFixtureServer } from '../support/fixture-server.mjs';
import { ensureWorkerBuilt, startWorker } from '../support/worker-harness.mjs';

const ID = 'fm-client';
const SECRET = 'fm-secret-Vt83Qx';
const WRONG_SECRET = 'fm-wrong-secret-Jp62-never-valid';
const KEY = 'fm-proxy-key-Delta-5521';
const CLIENT = CLIENTS.basic;
const MiB = 1024 * 1024;
const T = { timeout: 30_000 };
/** C0 controls, DEL and C1 controls (Unicode category Cc). */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

let auth; // oidc-provider behind the strict front (counts token requests)
let origin; // the Worker's origin and client.fetch's API (echo, secure, chunks routes)
let fx; // scripted fixture server
let faults; // fault-server.mjs
const workers = [];
const starting = new Set(); // Worker startups under way (after() waits for them)
const answers = []; // every Worker answer seen: { status, headers, body (non-2xx only) }

before(async () => {
  await ensureWorkerBuilt();
  [auth, origin, fx, faults] = await Promise.all([
    startAuthServer(), startEchoOrigin(), startFixtureServer(), startFaultServer(),
  ]);
}, { timeout: 240_000 });

after(async () => {
  // A Worker warmed up for a test that did not run (--test-name-pattern) may still be starting.
  await Promise.allSettled([...starting]);
  await Promise.all(workers.map((w) => w.dispose()));
  await Promise.all([auth?.close(), origin?.close(), fx?.close(), faults?.close()]);
});

// ---------------------------------------------------------------------------------------------
// Helpers

const okBody = (accessToken, extra = {}) => ({ access_token: accessToken, token_type: 'Bearer', expires_in: 300, ...extra });

/** A TokenClient for the fixture server's `path`. */
const make = (path, extra = {}) => new TokenClient({ tokenUrl: `${fx.url}${path}`, clientId: ID, clientSecret: SECRET, ...extra });

/** The grants sent to a fixture path, e.g. ['client_credentials', 'refresh_token:rt-1']. */
const grantsSent = (path) => fx.requestsFor(path).map((r) => {
  const form = new URLSearchParams(r.body);
  const grant = form.get('grant_type');
  return grant === 'refresh_token' ? `refresh_token:${form.get('refresh_token')}` : grant;
});

/**
 * Calls `fn()` `total` times in `batches` equal batches, evenly spread over `overMs` (the first
 * batch at once, the last one before `overMs`); resolves with every outcome, in the shape
 * Promise.allSettled gives ({ status: 'fulfilled', value } or { status: 'rejected', reason }).
 */
async function spread(total, overMs, batches, fn) {
  const perBatch = Math.ceil(total / batches);
  const started = Date.now();
  const pending = [];
  for (let b = 0; b < batches && pending.length < total; b++) {
    await sleep(Math.max(0, started + Math.round((b * overMs) / batches) - Date.now()));
    for (let i = 0; i < perBatch && pending.length < total; i++) {
      // Settled at once: a rejection waiting for the end would count as unhandled.
      pending.push(Promise.resolve().then(fn).then(
        (value) => ({ status: 'fulfilled', value }),
        (reason) => ({ status: 'rejected', reason }),
      ));
    }
  }
  return Promise.all(pending);
}

/**
 * Records when `count()` changes (polled every 5 ms), for failure messages:
 * `marks` like ['0 ms: 1', '812 ms: 2'] (time since the watch started: the count then).
 */
function watchCount(count) {
  const started = Date.now();
  let last = count();
  const marks = [];
  const timer = setInterval(() => {
    const now = count();
    if (now !== last) marks.push(`${Date.now() - started} ms: ${now}`);
    last = now;
  }, 5);
  return { marks, stop: () => clearInterval(timer) };
}

/** Counts of the values in `list`, for failure messages: { 401: 198, 502: 2 }. */
const tally = (list) => list.reduce((acc, v) => ({ ...acc, [v]: (acc[v] ?? 0) + 1 }), {});

/** The value of `name=` in a form body exactly as it was sent (still form-encoded). */
const rawField = (body, name) => body.split('&').find((p) => p.startsWith(`${name}=`))?.slice(name.length + 1);

function keyHeader(key = KEY) {
  return { 'proxy-authorization': `Bearer ${key}` };
}

function workerBindings(extra = {}) {
  const bindings = {
    ORIGIN_URL: `${origin.url}/base`,
    TOKEN_URL: auth.tokenUrl,
    CLIENT_ID: CLIENT.clientId,
    CLIENT_SECRET: CLIENT.clientSecret,
    PROXY_KEYS: KEY,
    ...extra,
  };
  return Object.fromEntries(Object.entries(bindings).filter(([, value]) => value !== undefined));
}

/** Starts a Worker (never builds: the top-level before() did, if at all). */
async function newWorker(extra) {
  const pending = startWorker({ bindings: workerBindings(extra), build: false });
  starting.add(pending);
  try {
    const worker = await pending;
    workers.push(worker);
    return worker;
  } finally {
    starting.delete(pending);
  }
}

/**
 * A Worker started on first use, with `bindings()` (read then: the servers exist by then).
 * `warm()` starts it early (a describe's before), leaving any startup error to the tests that
 * use it, so that a Worker that cannot start fails only the Worker tests.
 */
function lazyWorker(bindings = () => ({})) {
  let started;
  const get = () => (started ??= newWorker(bindings()));
  get.warm = () => { get().catch(() => {}); };
  return get;
}

function record(status, headers, body) {
  answers.push({ status, headers, body: status >= 300 ? body : undefined });
}

/**
 * The Worker's answer through miniflare's dispatchFetch (default) or, with `http: true`, over
 * real HTTP: { status, headers, text, json, ms }. An exception that escaped the Worker makes
 * dispatchFetch throw: that becomes status 'threw' with the error in `text`.
 */
async function call(worker, target, { http: overHttp = false, ...init } = {}) {
  const started = Date.now();
  let res;
  try {
    res = await (overHttp ? worker.fetch(target, init) : worker.dispatchFetch(target, init));
  } catch (error) {
    return { status: 'threw', headers: new Headers(), text: String(error?.stack ?? error), json: undefined, ms: Date.now() - started };
  }
  const text = await res.text();
  const ms = Date.now() - started;
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  record(res.status, [...res.headers], text);
  return { res, status: res.status, headers: res.headers, text, json, ms };
}

function assertErrorJson(answer, status, code) {
  assert.equal(answer.status, status, `status (body: ${answer.text?.slice(0, 500)})`);
  assert.match(answer.headers.get('content-type') ?? '', /^application\/json/);
  assert.ok(answer.json, `a JSON body: ${answer.text}`);
  assert.equal(typeof answer.json.error, 'string');
  assert.equal(typeof answer.json.message, 'string');
  if (code !== undefined) assert.equal(answer.json.code, code, answer.text);
  else assert.equal(typeof answer.json.code, 'string');
}

function timingDesc(answer) {
  return /desc="(\w+)"/.exec(answer.headers.get('server-timing') ?? '')?.[1];
}

/**
 * One HTTP/1.1 request to the Worker's socket with exactly this request target and these
 * headers ([name, value] pairs; nothing normalizes or filters them as fetch would). Adds
 * Host and `Connection: close` when missing. Resolves { status, headers, text, json }.
 */
function rawRequest(worker, target, headerPairs = [], { method = 'GET' } = {}) {
  const { hostname, port, host } = new URL(worker.url);
  const pairs = [...headerPairs];
  if (!pairs.some(([name]) => /^host$/i.test(name))) pairs.unshift(['Host', host]);
  if (!pairs.some(([name]) => /^connection$/i.test(name))) pairs.push(['Connection', 'close']);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: hostname, port: Number(port), method, path: target, agent: false, setHost: false, headers: pairs.flat(),
    }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        const decode = { gzip: zlib.gunzipSync, br: zlib.brotliDecompressSync, deflate: zlib.inflateSync }[res.headers['content-encoding']];
        const text = (decode ? decode(raw) : raw).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        record(res.statusCode, Object.entries(res.headers), text);
        resolve({ status: res.statusCode, headers: new Headers(Object.entries(res.headers).map(([k, v]) => [k, String(v)])), text, json });
        req.destroy();
      });
      res.on('error', reject);
    });
    req.setTimeout(15_000, () => req.destroy(new Error(`raw request ${target.slice(0, 80)} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * An answer to an odd request is either the request forwarded normally (2xx/3xx from the
 * origin, under the base path) or the Worker's own 4xx/5xx JSON; never an escaped exception.
 */
function assertHandled(answer, what) {
  assert.notEqual(answer.status, 'threw', `${what}: an exception escaped the Worker: ${answer.text.slice(0, 300)}`);
  if (answer.status < 400) return;
  assert.ok(answer.status < 600, `${what}: status ${answer.status}`);
  assert.match(answer.headers.get('content-type') ?? '', /^application\/json/, `${what}: ${answer.status} is not the Worker's JSON: ${answer.text.slice(0, 200)}`);
  assert.ok(answer.json && typeof answer.json.error === 'string' && typeof answer.json.code === 'string'
    && typeof answer.json.message === 'string', `${what}: ${answer.status} body ${answer.text.slice(0, 200)}`);
}

/** The error's message, description and string form are free of control characters. */
function assertNoControl(error) {
  for (const text of [error.message, error.description ?? '', String(error)]) {
    assert.ok(!CONTROL.test(text), `control character in ${JSON.stringify(text).slice(0, 300)}`);
  }
}

// =============================================================================================
// A failing IdP costs callers little and the IdP nothing extra
// =============================================================================================

describe('maxWaitMs / MAX_WAIT_MS: the longest a caller waits', () => {
  const w429 = lazyWorker(() => ({ TOKEN_URL: `${fx.url}/mw/w429` }));
  const wHang = lazyWorker(() => ({ TOKEN_URL: `${fx.url}/mw/whang`, TIMEOUT_MS: '5000', MAX_WAIT_MS: '800' }));
  before(() => {
    fx.script('/mw/w429', { status: 429, headers: { 'retry-after': '30' }, body: { error: 'slow_down' } });
    fx.script('/mw/whang', { hang: true });
    w429.warm();
    wHang.warm();
  });

  it('npm: IdP 429 + Retry-After: 30 → rejects at once (no 30 s wait) with retryAfter ≈ 30; the next call too, with no new token request', T, async () => {
    const path = '/mw/npm429';
    fx.script(path, { status: 429, headers: { 'retry-after': '30' }, body: { error: 'slow_down' } });
    const client = make(path); // maxWaitMs 10000 and maxRetries 2 by default
    // No 30 s wait: the 5 s signal would end it as 'aborted'. That it rejects with no time
    // passing at all is shown on a controllable clock (resilience.test.mjs, maxWaitMs).
    const first = await rejectsWith(client.getToken({ signal: AbortSignal.timeout(5000) }), TokenError, 'slow_down', { status: 429 });
    assert.ok(Number.isInteger(first.retryAfter) && first.retryAfter >= 28 && first.retryAfter <= 30, `retryAfter ${first.retryAfter}`);
    assert.equal(fx.count(path), 1, 'no retry: its wait would end past maxWaitMs');

    const second = await rejectsWith(client.getToken(), TokenError, 'slow_down', { status: 429 });
    assert.ok(Number.isInteger(second.retryAfter) && second.retryAfter >= 27 && second.retryAfter <= first.retryAfter, `retryAfter ${second.retryAfter}`);
    assert.equal(fx.count(path), 1, 'cooling down: no token request');
  });

  it('npm: maxWaitMs 1500 lets a 1 s Retry-After wait happen, not a 2 s one (the call fails at once with the last error)', T, async () => {
    fx.script('/mw/ra1', [
      { status: 503, headers: { 'retry-after': '1' }, body: { error: 'temporarily_unavailable' } },
      { status: 200, body: okBody('mw-after-1s') },
    ]);
    assert.equal(await make('/mw/ra1', { maxWaitMs: 1500 }).getToken(), 'mw-after-1s');
    assert.equal(fx.count('/mw/ra1'), 2);

    fx.script('/mw/ra2', [
      { status: 503, headers: { 'retry-after': '2' }, body: { error: 'temporarily_unavailable' } },
      { status: 200, body: okBody('mw-never') },
    ]);
    // At once, with no time passing: shown on a controllable clock (resilience.test.mjs).
    const err = await rejectsWith(make('/mw/ra2', { maxWaitMs: 1500 }).getToken({ signal: AbortSignal.timeout(5000) }),
      TokenError, 'temporarily_unavailable', { status: 503 });
    assert.ok(err.retryAfter >= 1 && err.retryAfter <= 2, `retryAfter ${err.retryAfter}`);
    assert.equal(fx.count('/mw/ra2'), 1);
  });

  it("npm: each attempt's timeout is cut to the time left (hanging IdP, timeoutMs 5000, maxWaitMs 800)", T, async () => {
    const hanging = await startHangingServer();
    try {
      const client = new TokenClient({ tokenUrl: `${hanging.url}/token`, clientId: ID, clientSecret: SECRET, timeoutMs: 5000, maxWaitMs: 800, maxRetries: 2 });
      const started = Date.now();
      await rejectsWith(client.getToken({ signal: AbortSignal.timeout(4000) }), TokenError, 'timeout');
      const took = Date.now() - started;
      // A real hanging socket: a bound between maxWaitMs and timeoutMs (the exact time is on
      // a controllable clock in resilience.test.mjs).
      assert.ok(took < 4500, `gave up after ${took} ms (timeoutMs is 5000)`);
      assert.equal(hanging.connections, 1, 'no retry once maxWaitMs is used up');
    } finally {
      await hanging.close();
    }
  });

  it('Worker: IdP 429 + Retry-After: 30 → 503 within 1 s with Retry-After; the next request too, with no new token request', T, async () => {
    const worker = await w429();
    const warm = await call(worker, '/mw/echo'); // no key: 401, the isolate is up, no token request
    assert.equal(warm.status, 401);
    assert.equal(fx.count('/mw/w429'), 0);
    const originBefore = origin.count();

    const first = await call(worker, '/mw/echo', { headers: keyHeader(), signal: AbortSignal.timeout(8000) });
    assertErrorJson(first, 503);
    // workerd is a real process (its clock cannot be mocked): a bound far from both the
    // answer (milliseconds) and the 30 s wait it must not make.
    assert.ok(first.ms < 5000, `answered after ${first.ms} ms`);
    const retryAfter = Number(first.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 28 && retryAfter <= 30, `Retry-After: ${first.headers.get('retry-after')}`);
    assert.equal(first.json.code, 'slow_down');
    assert.equal(fx.count('/mw/w429'), 1, 'no retry: its wait would end past MAX_WAIT_MS');

    const second = await call(worker, '/mw/echo', { headers: keyHeader(), signal: AbortSignal.timeout(8000) });
    assertErrorJson(second, 503);
    assert.ok(second.ms < 5000, `answered after ${second.ms} ms`);
    const left = Number(second.headers.get('retry-after'));
    assert.ok(Number.isInteger(left) && left >= 1 && left <= retryAfter, `Retry-After: ${second.headers.get('retry-after')}`);
    assert.equal(fx.count('/mw/w429'), 1, 'cooling down: no token request');
    assert.equal(origin.count(), originBefore, 'the origin is never contacted');
  });

  it('Worker: MAX_WAIT_MS=800 with a hanging IdP and TIMEOUT_MS=5000 → 503 (timeout) long before TIMEOUT_MS', T, async () => {
    const worker = await wHang();
    const warm = await call(worker, '/mw/echo');
    assert.equal(warm.status, 401);
    const answer = await call(worker, '/mw/echo', { headers: keyHeader(), signal: AbortSignal.timeout(8000) });
    assertErrorJson(answer, 503, 'timeout');
    assert.ok(answer.ms < 4500, `answered after ${answer.ms} ms (TIMEOUT_MS is 5000)`);
    assert.match(answer.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    assert.equal(fx.count('/mw/whang'), 1, 'one attempt: no retry once MAX_WAIT_MS is used up');
  });
});

describe('cooldown after a failed renewal, shared by every caller', () => {
  const wInvalid = lazyWorker(() => ({ CLIENT_SECRET: WRONG_SECRET }));
  const wStale = lazyWorker(() => ({ TOKEN_URL: `${fx.url}/cd/wstale`, REFRESH_AHEAD_SECONDS: '3', EXPIRY_MARGIN_SECONDS: '1', MAX_RETRIES: '0' }));
  before(() => {
    fx.script('/cd/wstale', [
      { status: 200, body: { access_token: 'cd-wk-stale', token_type: 'Bearer', expires_in: 4 } },
      { status: 500, body: { error: 'server_error', error_description: 'refresh failed' } },
    ]);
    wInvalid.warm();
    wStale.warm();
  });

  it('npm: invalid_client (oidc-provider, wrong secret): 1,000 getToken() calls spread over 3 s send at most 3 token requests', T, async () => {
    const client = new TokenClient({ tokenUrl: auth.tokenUrl, clientId: CLIENT.clientId, clientSecret: WRONG_SECRET });
    const before = auth.tokenRequests;
    const watch = watchCount(() => auth.tokenRequests - before);
    const results = await spread(1000, 3000, 30, () => client.getToken());
    watch.stop();
    const made = auth.tokenRequests - before;
    assert.equal(results.length, 1000);
    assert.ok(results.every((r) => r.status === 'rejected'), 'every call is refused');
    for (const { reason } of results) {
      assert.ok(reason instanceof TokenError, String(reason));
      assert.equal(reason.code, 'invalid_client');
      assert.equal(reason.status, 401);
      assert.ok(Number.isInteger(reason.retryAfter) && reason.retryAfter >= 1 && reason.retryAfter <= 60, `retryAfter ${reason.retryAfter}`);
    }
    assert.ok(made >= 1 && made <= 3, `${made} token requests for 1,000 calls over 3 s (${watch.marks.join(', ')})`);
    assert.equal(client.stats().tokenRequests, made);
    assertNoLeak({ error: results[0].reason, stats: client.stats(), secrets: [WRONG_SECRET] });
  });

  it('Worker: invalid_client: 500 requests spread over 3 s send at most 3 token requests; every one gets 502 JSON at once', T, async () => {
    const worker = await wInvalid();
    const before = auth.tokenRequests;
    const originBefore = origin.count();
    const watch = watchCount(() => auth.tokenRequests - before);
    const results = await spread(500, 3000, 25, () => call(worker, '/cd/echo', { headers: keyHeader() }));
    watch.stop();
    const made = auth.tokenRequests - before;
    const statuses = results.map((r) => (r.status === 'fulfilled' ? r.value.status : `rejected: ${r.reason}`));
    assert.deepEqual(tally(statuses), { 502: 500 });
    for (const { value } of results) assert.equal(value.json?.code, 'invalid_client', value.text);
    assert.ok(made >= 1 && made <= 3, `${made} token requests for 500 Worker requests over 3 s (${watch.marks.join(', ')})`);
    assert.equal(origin.count(), originBefore, 'the origin is never contacted');
  });

  it('npm: retryAfter on every renewal failure and every cooldown rejection (same code and status); one request per cooldown; the step doubles, a success resets it', T, async () => {
    const path = '/cd/steps';
    const down = { status: 500, body: { error: 'server_error', error_description: 'down' } };
    fx.script(path, down);
    const client = make(path, { maxRetries: 0 });
    const first = await rejectsWith(client.getToken(), TokenError, 'server_error', { status: 500 });
    assert.equal(first.retryAfter, 1, 'first step: between 0.5 and 1 s');
    const during = await rejectsWith(client.getToken(), TokenError, 'server_error', { status: 500 });
    assert.equal(during.retryAfter, 1);
    assert.equal(fx.count(path), 1, 'a cooldown rejection sends nothing');

    // Poll until the next request is made (after the cooldown); it fails too: the step doubles.
    let second;
    const deadline = Date.now() + 3000;
    while (fx.count(path) < 2 && Date.now() < deadline) {
      second = await rejectsWith(client.getToken(), TokenError, 'server_error', { status: 500 });
      assert.ok(Number.isInteger(second.retryAfter) && second.retryAfter >= 1, `retryAfter ${second.retryAfter}`);
      if (fx.count(path) < 2) await sleep(50);
    }
    assert.equal(fx.count(path), 2, 'one request once the first cooldown ended');
    assert.equal(second.retryAfter, 2, 'second step: between 1 and 2 s');

    // The server recovers: polling makes exactly one more request, after the cooldown.
    fx.script(path, { status: 200, body: okBody('cd-recovered') });
    let token;
    const until = Date.now() + 4000;
    while (token === undefined && Date.now() < until) {
      try {
        token = await client.getToken();
      } catch (err) {
        assert.equal(err.code, 'server_error');
        assert.ok(err.retryAfter >= 1 && err.retryAfter <= 2, `retryAfter ${err.retryAfter}`);
        await sleep(50);
      }
    }
    assert.equal(token, 'cd-recovered');
    assert.equal(fx.count(path), 3);

    // A success resets the backoff: the next failure cools down for the first step again.
    fx.script(path, down);
    client.invalidate();
    const afterReset = await rejectsWith(client.getToken(), TokenError, 'server_error', { status: 500 });
    assert.equal(afterReset.retryAfter, 1);
    assert.equal(fx.count(path), 4);
  });

  it('npm: retryAfter is not set on config or aborted errors', T, async () => {
    const config = throwsConfig(() => new TokenClient({ tokenUrl: 'http://auth.example.com/token', clientId: ID, clientSecret: SECRET }), TokenError);
    assert.equal(config.retryAfter, undefined);
    fx.script('/cd/aborted', { status: 200, delayMs: 300, body: okBody('cd-aborted') });
    const client = make('/cd/aborted');
    const aborted = await rejectsWith(client.getToken({ signal: AbortSignal.timeout(50) }), TokenError, 'aborted');
    assert.equal(aborted.retryAfter, undefined);
    const already = await rejectsWith(client.getToken({ signal: AbortSignal.abort() }), TokenError, 'aborted');
    assert.equal(already.retryAfter, undefined);
  });

  it("npm: the server's Retry-After sets the cooldown, capped at 3600 s", T, async () => {
    fx.script('/cd/ra2', { status: 503, headers: { 'retry-after': '2' }, body: { error: 'temporarily_unavailable' } });
    const client = make('/cd/ra2', { maxRetries: 0 });
    const first = await rejectsWith(client.getToken(), TokenError, 'temporarily_unavailable', { status: 503 });
    assert.equal(first.retryAfter, 2);
    const during = await rejectsWith(client.getToken(), TokenError, 'temporarily_unavailable', { status: 503 });
    assert.ok(during.retryAfter >= 1 && during.retryAfter <= 2, `retryAfter ${during.retryAfter}`);
    assert.equal(fx.count('/cd/ra2'), 1);

    fx.script('/cd/ra-huge', { status: 429, headers: { 'retry-after': '999999' }, body: { error: 'slow_down' } });
    const capped = make('/cd/ra-huge', { maxRetries: 0 });
    const err = await rejectsWith(capped.getToken(), TokenError, 'slow_down', { status: 429 });
    assert.ok(err.retryAfter >= 3590 && err.retryAfter <= 3600, `retryAfter ${err.retryAfter}`);
    await rejectsWith(capped.getToken(), TokenError, 'slow_down', { status: 429 });
    assert.equal(fx.count('/cd/ra-huge'), 1);
  });

  it('npm: forceRefresh, invalidate(), getTokenInfo, authorizationHeader and fetch do not bypass the cooldown', T, async () => {
    const path = '/cd/force';
    fx.script(path, { status: 500, body: { error: 'server_error' } });
    const client = make(path, { maxRetries: 0 });
    await rejectsWith(client.getToken(), TokenError, 'server_error', { status: 500 });
    assert.equal(fx.count(path), 1);
    const originBefore = origin.count();
    for (const [what, attempt] of [
      ['getToken({ forceRefresh })', () => client.getToken({ forceRefresh: true })],
      ['invalidate() + getToken()', () => { client.invalidate(); return client.getToken(); }],
      ['getTokenInfo({ forceRefresh })', () => client.getTokenInfo({ forceRefresh: true })],
      ['authorizationHeader()', () => client.authorizationHeader()],
      ['fetch()', () => client.fetch(`${origin.url}/cd/echo`)],
    ]) {
      const err = await rejectsWith(attempt(), TokenError, 'server_error', { status: 500 });
      assert.ok(Number.isInteger(err.retryAfter) && err.retryAfter >= 1, `${what}: retryAfter ${err.retryAfter}`);
      assert.equal(fx.count(path), 1, `${what} sent a token request during the cooldown`);
    }
    assert.equal(origin.count(), originBefore);

    // With a token cached: a forced refresh that fails starts a cooldown too.
    const cached = '/cd/force-cached';
    fx.script(cached, [{ status: 200, body: okBody('cd-cached') }, { status: 500, body: { error: 'server_error' } }]);
    const other = make(cached, { maxRetries: 0 });
    assert.equal(await other.getToken(), 'cd-cached');
    await other.getToken({ forceRefresh: true }).catch(() => {}); // fails (or serves the cached token)
    assert.equal(fx.count(cached), 2);
    await other.getToken({ forceRefresh: true }).catch(() => {});
    other.invalidate();
    await other.getToken().catch(() => {});
    await other.getToken({ forceRefresh: true }).catch(() => {});
    assert.equal(fx.count(cached), 2, 'no token request during the cooldown');
  });

  it('npm: stale-if-error during the cooldown: the valid token keeps serving, refresh attempts stay few', T, async () => {
    const path = '/cd/stale';
    fx.script(path, [
      { status: 200, body: { access_token: 'cd-stale', token_type: 'Bearer', expires_in: 4 } },
      { status: 500, body: { error: 'server_error', error_description: 'refresh failed' } },
    ]);
    const client = make(path, { refreshAheadSeconds: 3, expiryMarginSeconds: 1, maxRetries: 0 });
    const { expiresAt } = await client.getTokenInfo();
    const outcomes = [];
    while (Date.now() < expiresAt - 150) {
      try {
        outcomes.push(await client.getToken());
      } catch (err) {
        outcomes.push(`${err.code} at ${err.status}, ${expiresAt - Date.now()} ms before expiry`);
      }
      await sleep(40);
    }
    assert.ok(outcomes.length > 40);
    assert.deepEqual(tally(outcomes), { 'cd-stale': outcomes.length }, 'the valid token is served throughout');
    const made = fx.count(path);
    assert.ok(made >= 2, 'a refresh was attempted');
    assert.ok(made <= 4, `${made} token requests: the first, and at most 3 refreshes (cooldown 0.5-1 s, then 1-2 s)`);

    await sleep(Math.max(0, expiresAt + 50 - Date.now()));
    const err = await rejectsWith(client.getToken(), TokenError, 'server_error', { status: 500 });
    assert.ok(Number.isInteger(err.retryAfter) && err.retryAfter >= 1, `retryAfter ${err.retryAfter}`);
  });

  it('Worker: stale-if-error during the cooldown: requests keep going out with the valid token, refresh attempts stay few', T, async () => {
    const worker = await wStale();
    const started = Date.now();
    const first = await call(worker, '/cd/stale/echo', { headers: keyHeader() });
    assert.equal(first.status, 200, first.text);
    // The token was requested after `started`: it is valid until at least started + 4 s.
    const seen = [];
    while (Date.now() < started + 3700) {
      const answer = await call(worker, '/cd/stale/echo', { headers: keyHeader(), signal: AbortSignal.timeout(3000) });
      seen.push(answer.status === 200 ? answer.json.headers.authorization : `${answer.status} ${answer.text.slice(0, 80)}`);
      await sleep(40);
    }
    assert.ok(seen.length > 40);
    assert.deepEqual(tally(seen), { 'Bearer cd-wk-stale': seen.length });
    const made = fx.count('/cd/wstale');
    assert.ok(made >= 2, 'a refresh was attempted');
    assert.ok(made <= 4, `${made} token requests: the first, and at most 3 refreshes`);
  });
});

describe('timeoutMs covers reading the body', () => {
  const slowWorker = slowBody({ prefix: '{"access_token":"' });
  const wSlow = lazyWorker(() => ({ TOKEN_URL: `${faults.url}/slow/worker`, TIMEOUT_MS: '600', MAX_RETRIES: '0' }));
  before(() => {
    faults.route('/slow/worker', slowWorker);
    wSlow.warm();
  });

  it('npm: headers at once, then one byte a second → timeout', T, async () => {
    const slow = slowBody({ prefix: '{"access_token":"' });
    faults.route('/slow/npm', slow);
    const client = new TokenClient({ tokenUrl: `${faults.url}/slow/npm`, clientId: ID, clientSecret: SECRET, timeoutMs: 600, maxRetries: 0 });
    const started = Date.now();
    await rejectsWith(client.getToken({ signal: AbortSignal.timeout(8000) }), TokenError, 'timeout');
    assert.ok(Date.now() - started < 4000, `gave up after ${Date.now() - started} ms`);
    assert.equal(faults.count('/slow/npm'), 1);
    await waitFor(() => slow.stats.closedEarly === 1, 3000, 'the client to hang up');
  });

  it('Worker: the same → 503 timeout with Retry-After', T, async () => {
    const answer = await call(await wSlow(), '/slow/echo', { headers: keyHeader(), signal: AbortSignal.timeout(8000) });
    assertErrorJson(answer, 503, 'timeout');
    assert.ok(answer.ms < 4000, `answered after ${answer.ms} ms`);
    assert.match(answer.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    assert.equal(faults.count('/slow/worker'), 1);
  });
});

describe('a refresh token refused with any non-retried 4xx falls back to the original grant once', () => {
  const refusals = [
    ['400 invalid_request', { status: 400, body: { error: 'invalid_request', error_description: 'refresh token expired' } }],
    ['400 with an empty body', { status: 400, body: '' }],
  ];
  const grants = [
    ['client credentials', undefined, 'client_credentials'],
    ['password', { type: 'password', username: 'fm-user@example.com', password: 'fm-Passw0rd-77' }, 'password'],
  ];
  let n = 0;
  for (const [label, refusal] of refusals) {
    for (const [grantName, grant, original] of grants) {
      n += 1;
      const id = n;
      it(`npm: ${label}, ${grantName} grant → the caller gets a fresh token; the refused refresh token is never sent again`, T, async () => {
        const path = `/rt/${id}`;
        const tok = (k) => ({ status: 200, body: okBody(`rt${id}-at-${k}`, { refresh_token: `rt${id}-rt-${k}` }) });
        fx.script(path, [tok(1), refusal, tok(2), tok(3)]);
        const client = make(path, grant ? { grant } : {});
        assert.equal(await client.getToken(), `rt${id}-at-1`);
        assert.equal(await client.getToken({ forceRefresh: true }), `rt${id}-at-2`, 'the same renewal fell back');
        assert.equal(await client.getToken({ forceRefresh: true }), `rt${id}-at-3`);
        assert.deepEqual(grantsSent(path), [original, `refresh_token:rt${id}-rt-1`, original, `refresh_token:rt${id}-rt-2`]);
        const uses = fx.requestsFor(path).filter((r) => r.body.includes(`rt${id}-rt-1`)).length;
        assert.equal(uses, 1, 'the refused refresh token was sent again');
        assert.equal(client.stats().failures, 0);
      });
    }
  }

  it('Worker: 400 with an empty body → the request is answered with a token from the original grant', T, async () => {
    const path = '/rt/worker';
    fx.script(path, [
      { status: 200, body: okBody('rtw-at-1', { refresh_token: 'rtw-rt-1' }) },
      { status: 400, body: '' },
      { status: 200, body: okBody('rtw-at-2') },
    ]);
    const worker = await newWorker({ TOKEN_URL: `${fx.url}${path}` });
    origin.acceptTokens((token) => token === 'rtw-at-2');
    try {
      // rtw-at-1 is refused by the origin: one renewal (refresh token refused → fallback).
      const answer = await call(worker, '/rtw/secure', { headers: keyHeader() });
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.json.headers.authorization, 'Bearer rtw-at-2');
      assert.deepEqual(grantsSent(path), ['client_credentials', 'refresh_token:rtw-rt-1', 'client_credentials']);
      const next = await call(worker, '/rtw/secure', { headers: keyHeader() });
      assert.equal(next.status, 200);
      assert.equal(fx.count(path), 3);
    } finally {
      origin.acceptTokens(() => false);
    }
  });
});

describe('origin refusals renew at most once per token', () => {
  const wStorm = lazyWorker();
  const wRevoke = lazyWorker();
  before(() => {
    wStorm.warm();
    wRevoke.warm();
  });
  after(() => origin.acceptTokens(() => false));

  it('npm: an origin answering 401 to everything: 200 client.fetch calls over 2 s send at most 4 token requests; every caller gets the 401', T, async () => {
    origin.acceptTokens(() => false);
    const client = new TokenClient({ tokenUrl: auth.tokenUrl, clientId: CLIENT.clientId, clientSecret: CLIENT.clientSecret });
    const before = auth.tokenRequests;
    const watch = watchCount(() => auth.tokenRequests - before);
    const results = await spread(200, 2000, 20, async () => {
      const res = await client.fetch(`${origin.url}/storm/secure`);
      await res.arrayBuffer();
      return res.status;
    });
    watch.stop();
    const made = auth.tokenRequests - before;
    assert.deepEqual(tally(results.map((r) => (r.status === 'fulfilled' ? r.value : `${r.reason?.code ?? r.reason}`))), { 401: 200 });
    assert.ok(made >= 2, `${made} token requests: the first token is renewed once`);
    assert.ok(made <= 4, `${made} token requests for 200 refused calls over 2 s (${watch.marks.join(', ')})`);
  });

  it('npm: a later real revocation (a 401 after the current token was accepted) still renews, each time', T, async () => {
    origin.acceptTokens(() => true);
    const client = new TokenClient({ tokenUrl: auth.tokenUrl, clientId: CLIENT.clientId, clientSecret: CLIENT.clientSecret });
    const bearers = () => origin.requests.filter((r) => r.path === '/revoke/secure').map((r) => r.headers.authorization);
    assert.equal((await client.fetch(`${origin.url}/revoke/secure`)).status, 200);
    const before = auth.tokenRequests;
    const revoked = new Set();
    for (let round = 1; round <= 2; round++) {
      revoked.add(bearers().at(-1));
      origin.acceptTokens((token) => !revoked.has(`Bearer ${token}`));
      const res = await client.fetch(`${origin.url}/revoke/secure`, { method: 'POST', body: `round ${round}` });
      assert.equal(res.status, 200, `round ${round}`);
      assert.equal(auth.tokenRequests - before, round, `round ${round}: one renewal`);
    }
    assert.equal(new Set(bearers()).size, 3);
  });

  it('Worker: an origin answering 401 to everything: 200 requests over 2 s send at most 4 token requests; every caller gets the 401', T, async () => {
    const worker = await wStorm();
    origin.acceptTokens(() => false);
    const before = auth.tokenRequests;
    const watch = watchCount(() => auth.tokenRequests - before);
    const results = await spread(200, 2000, 20, () => call(worker, '/storm/secure', { headers: keyHeader() }));
    watch.stop();
    const made = auth.tokenRequests - before;
    assert.deepEqual(tally(results.map((r) => (r.status === 'fulfilled' ? r.value.status : `rejected: ${r.reason}`))), { 401: 200 });
    assert.ok(made >= 2, `${made} token requests: the first token is renewed once`);
    assert.ok(made <= 4, `${made} token requests for 200 refused requests over 2 s (${watch.marks.join(', ')})`);
  });

  it('Worker: a later real revocation still renews, each time', T, async () => {
    const worker = await wRevoke();
    origin.acceptTokens(() => true);
    const bearers = () => origin.requests.filter((r) => r.path === '/base/wrevoke/secure').map((r) => r.headers.authorization);
    assert.equal((await call(worker, '/wrevoke/secure', { headers: keyHeader() })).status, 200);
    const before = auth.tokenRequests;
    const revoked = new Set();
    for (let round = 1; round <= 2; round++) {
      revoked.add(bearers().at(-1));
      origin.acceptTokens((token) => !revoked.has(`Bearer ${token}`));
      const answer = await call(worker, '/wrevoke/secure', { headers: keyHeader() });
      assert.equal(answer.status, 200, `round ${round}: ${answer.text.slice(0, 200)}`);
      assert.equal(timingDesc(answer), 'refresh');
      assert.equal(auth.tokenRequests - before, round, `round ${round}: one renewal`);
    }
    assert.equal(new Set(bearers()).size, 3);
  });
});

// =============================================================================================
// Nothing an IdP answers can hurt
// =============================================================================================

describe('hostile token endpoint answers', () => {
  const ECHO_SECRET = 'echo-Secret+/=%&7Qx';
  const ECHO_PASSWORD = 'pa ss+w\u00f6rd&9Z';
  const W_ECHO_SECRET = 'wecho-Secret+/=%&5Rt';
  const hugeForWorker = hugeBody({ totalBytes: 64 * MiB });

  /** An error_description echoing what the client sent, with control characters and padding. */
  function echoDescription(body) {
    const form = new URLSearchParams(body);
    return [
      'ECHO-MARKER',
      `client_secret=${form.get('client_secret')}`,
      `password=${form.get('password')}`,
      `sent:${rawField(body, 'client_secret')}`,
      `sent:${rawField(body, 'password')}`,
      'ctl:\u0000\u0007\u001b[31m\r\nX-Injected: yes\u007f\u0085\u009b',
      `body=${body}`,
      'pad '.repeat(300),
    ].join(' ');
  }

  const wHuge = lazyWorker(() => ({ TOKEN_URL: `${faults.url}/huge/worker`, MAX_RETRIES: '0' }));
  const wCrlf = lazyWorker(() => ({ TOKEN_URL: `${fx.url}/hostile/wcrlf`, MAX_RETRIES: '0' }));
  const wEcho = lazyWorker(() => ({
    TOKEN_URL: `${faults.url}/echo/worker`, AUTH_METHOD: 'client_secret_post', CLIENT_SECRET: W_ECHO_SECRET, MAX_RETRIES: '0', LOG_LEVEL: 'debug',
  }));
  const wJwt = lazyWorker(() => ({ TOKEN_URL: `${fx.url}/hostile/wjwt`, MAX_RETRIES: '0' }));
  const HELD_AT = 'wecho-at-Held-77';
  const HELD_RT = 'wecho-rt-Q2+/=Zz';
  const wEchoRefresh = lazyWorker(() => ({
    TOKEN_URL: `${faults.url}/echo/wrefresh`, AUTH_METHOD: 'client_secret_post', CLIENT_SECRET: W_ECHO_SECRET, MAX_RETRIES: '0',
    REFRESH_AHEAD_SECONDS: '3', EXPIRY_MARGIN_SECONDS: '1', LOG_LEVEL: 'debug',
  }));
  before(() => {
    faults.route('/huge/worker', hugeForWorker);
    faults.route('/echo/worker', (req, res, { body }) => sendJson(res, 400, {
      error: 'invalid_request', error_description: echoDescription(body), error_uri: 'javascript:alert(document.cookie)',
    }));
    fx.script('/hostile/wcrlf', { status: 200, body: okBody('wk-crlf-Secret-31\r\nX-Injected: yes') });
    fx.script('/hostile/wjwt', { status: 200, body: okBody(unsignedJwt({ iat: 1_700_000_000, exp: 1_700_000_000 })) });
    faults.route('/echo/wrefresh', (req, res, { body, form, index }) => {
      if (index === 0) return sendJson(res, 200, { access_token: HELD_AT, refresh_token: HELD_RT, token_type: 'Bearer', expires_in: 4 });
      return sendJson(res, 503, {
        error: 'temporarily_unavailable',
        error_description: `ECHO-MARKER at=${HELD_AT} rt=${HELD_RT} sent=${rawField(body, 'refresh_token')} cs=${form.get('client_secret')} body=${body}`,
      });
    });
    for (const worker of [wHuge, wCrlf, wEcho, wJwt, wEchoRefresh]) worker.warm();
  });

  it('npm: a 64 MiB chunked body → invalid_response; the read is cancelled and memory stays within a few MiB', T, async (t) => {
    await Promise.allSettled([...starting]); // Workers warming up in this process would blur the figure
    const huge = hugeBody({ totalBytes: 64 * MiB });
    faults.route('/huge/npm', huge);
    const client = new TokenClient({ tokenUrl: `${faults.url}/huge/npm`, clientId: ID, clientSecret: SECRET, maxRetries: 0 });
    const base = process.memoryUsage().rss;
    let peak = base;
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 5);
    let err;
    try {
      err = await rejectsWith(client.getToken({ signal: AbortSignal.timeout(15_000) }), TokenError, 'invalid_response');
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    await waitFor(() => huge.stats.closedEarly + huge.stats.completed === 1, 5000, 'the server to finish or be cut off');
    assert.equal(huge.stats.completed, 0, 'the whole 64 MiB was read');
    assert.ok(huge.stats.perRequest[0] < 32 * MiB, `${(huge.stats.perRequest[0] / MiB).toFixed(1)} MiB were taken off the wire`);
    t.diagnostic(`rss +${((peak - base) / MiB).toFixed(1)} MiB at the peak; ${(huge.stats.perRequest[0] / MiB).toFixed(1)} MiB sent before the client hung up`);
    assert.ok(peak - base < 32 * MiB, `rss grew by ${((peak - base) / MiB).toFixed(1)} MiB`);
    assert.equal(faults.count('/huge/npm'), 1);
    assert.ok(!err.message.includes('aaaaaaaaaa'));
  });

  it('npm: a 64 MiB chunked discovery document → invalid_response; the read is cancelled', T, async () => {
    const huge = hugeBody({ totalBytes: 64 * MiB });
    for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) faults.route(`/huge-disc${path}`, huge);
    const client = new TokenClient({ issuer: `${faults.url}/huge-disc`, clientId: ID, clientSecret: SECRET, maxRetries: 0 });
    await rejectsWith(client.getToken({ signal: AbortSignal.timeout(15_000) }), TokenError, 'invalid_response');
    await waitFor(() => huge.stats.closedEarly + huge.stats.completed === huge.stats.requests, 5000, 'the server to finish or be cut off');
    assert.ok(huge.stats.requests >= 1);
    assert.equal(huge.stats.completed, 0, 'a whole 64 MiB document was read');
    assert.ok(huge.stats.perRequest.every((n) => n < 32 * MiB), `MiB taken off the wire: ${huge.stats.perRequest.map((n) => (n / MiB).toFixed(1))}`);
  });

  it('Worker: a 64 MiB chunked body → 502 invalid_response; the read is cancelled', T, async () => {
    const answer = await call(await wHuge(), '/huge/echo', { headers: keyHeader(), signal: AbortSignal.timeout(20_000) });
    assertErrorJson(answer, 502, 'invalid_response');
    await waitFor(() => hugeForWorker.stats.closedEarly + hugeForWorker.stats.completed === 1, 5000, 'the server to finish or be cut off');
    assert.equal(hugeForWorker.stats.completed, 0, 'the whole 64 MiB was read');
    assert.ok(hugeForWorker.stats.perRequest[0] < 32 * MiB, `${(hugeForWorker.stats.perRequest[0] / MiB).toFixed(1)} MiB were taken off the wire`);
  });

  it('npm: an access_token or token_type with CR/LF, spaces, tabs, NUL or non-ASCII → invalid_response that never quotes it', T, async () => {
    const cases = [
      ['CR/LF in access_token', { access_token: 'crlf-Tok3n-Secret-41\r\nX-Injected: yes' }, 'crlf-Tok3n-Secret-41'],
      ['LF in access_token', { access_token: 'lf-Tok3n-Secret-42\nX-Injected: yes' }, 'lf-Tok3n-Secret-42'],
      ['space in access_token', { access_token: 'space Tok3n-Secret-43' }, 'Tok3n-Secret-43'],
      ['tab in access_token', { access_token: 'tab\tTok3n-Secret-44' }, 'Tok3n-Secret-44'],
      ['NUL in access_token', { access_token: 'nul-Tok3n-Secret-45\u0000x' }, 'nul-Tok3n-Secret-45'],
      ['non-ASCII in access_token', { access_token: 'n\u00f6n-Tok3n-Secret-46' }, 'Tok3n-Secret-46'],
      ['DEL in access_token', { access_token: 'del-Tok3n-Secret-47\u007f' }, 'del-Tok3n-Secret-47'],
      ['CR/LF in token_type', { access_token: 'ok-token-48', token_type: 'Bearer\r\nX-Injected: yes' }, 'X-Injected: yes'],
      ['space in token_type', { access_token: 'ok-token-49', token_type: 'Bearer Tok3n-Type-49' }, 'Tok3n-Type-49'],
    ];
    for (const [i, [label, fields, secret]] of cases.entries()) {
      const path = `/hostile/chars-${i}`;
      fx.script(path, { status: 200, body: { token_type: 'Bearer', expires_in: 300, ...fields } });
      const client = make(path, { maxRetries: 0 });
      let err;
      try {
        err = await rejectsWith(client.getToken(), TokenError, 'invalid_response');
      } catch (failure) {
        failure.message = `${label}: ${failure.message}`;
        throw failure;
      }
      assertNoLeak({ error: err, stats: client.stats(), secrets: [secret] });
      assert.equal(fx.count(path), 1, label);
    }
  });

  it('Worker: an access_token with CR/LF → 502 invalid_response JSON that never quotes it; the origin is not contacted', T, async () => {
    const originBefore = origin.count();
    const answer = await call(await wCrlf(), '/crlf/echo', { headers: keyHeader() });
    assertErrorJson(answer, 502, 'invalid_response');
    assert.ok(!answer.text.includes('wk-crlf-Secret-31'));
    assert.equal(origin.count(), originBefore);
  });

  it('npm: error_description echoing client_secret and password → [redacted] (clear and form-encoded), no control characters, ≤ 256 characters; a javascript: error_uri is dropped', T, async () => {
    const path = '/echo/npm';
    faults.route(path, (req, res, { body }) => sendJson(res, 400, {
      error: 'invalid_request', error_description: echoDescription(body), error_uri: 'javascript:alert(document.cookie)',
    }));
    const client = new TokenClient({
      tokenUrl: `${faults.url}${path}`, clientId: ID, clientSecret: ECHO_SECRET, authMethod: 'client_secret_post',
      grant: { type: 'password', username: 'echo-user@example.com', password: ECHO_PASSWORD }, maxRetries: 0,
    });
    const err = await rejectsWith(client.getToken(), TokenError, 'invalid_request', { status: 400 });
    const sent = faults.requestsFor(path)[0].body;
    const sentSecret = rawField(sent, 'client_secret');
    const sentPassword = rawField(sent, 'password');
    assert.notEqual(sentSecret, ECHO_SECRET, 'the secret is form-encoded on the wire');
    assert.notEqual(sentPassword, ECHO_PASSWORD, 'the password is form-encoded on the wire');
    assertNoLeak({ error: err, stats: client.stats(), secrets: [ECHO_SECRET, sentSecret, ECHO_PASSWORD, sentPassword] });
    assert.equal(typeof err.description, 'string');
    assert.ok(err.description.includes('ECHO-MARKER'), `the rest of the description is kept: ${err.description}`);
    assert.ok(err.description.includes('[redacted]'), err.description);
    assert.ok([...err.description].length <= 256, `${[...err.description].length} characters`);
    assertNoControl(err);
    assert.equal(err.uri, undefined);
  });

  it('npm: a secret split by control characters is not put back together by the cleaning', T, async () => {
    const path = '/echo/split';
    faults.route(path, (req, res) => sendJson(res, 400, {
      error: 'invalid_request', error_description: `x ${SECRET.slice(0, 6)}\u0007${SECRET.slice(6)} y ${SECRET.slice(0, 3)}\r\n${SECRET.slice(3)}`,
    }));
    const client = new TokenClient({ tokenUrl: `${faults.url}${path}`, clientId: ID, clientSecret: SECRET, maxRetries: 0 });
    const err = await rejectsWith(client.getToken(), TokenError, 'invalid_request');
    assertNoLeak({ error: err, secrets: [SECRET] });
    assertNoControl(err);
  });

  it('npm: the refresh token the client holds is redacted from error_description too (clear and form-encoded)', T, async () => {
    const path = '/echo/rt';
    const AT = 'echo-at-Q4.secret-value';
    const RT = 'echo-rt-Z9+/=Kw';
    faults.route(path, (req, res, { body, form, index }) => {
      if (index === 0) return sendJson(res, 200, { access_token: AT, refresh_token: RT, token_type: 'Bearer', expires_in: 1 });
      return sendJson(res, 503, {
        error: 'temporarily_unavailable',
        error_description: `ECHO-MARKER at=${AT} rt=${RT} sent=${rawField(body, 'refresh_token')} cs=${form.get('client_secret')}`,
      });
    });
    const client = new TokenClient({ tokenUrl: `${faults.url}${path}`, clientId: ID, clientSecret: SECRET, authMethod: 'client_secret_post', maxRetries: 0 });
    assert.equal(await client.getToken(), AT);
    await sleep(1100); // expired: the next call renews with the refresh token
    const err = await rejectsWith(client.getToken(), TokenError, 'temporarily_unavailable', { status: 503 });
    const refresh = faults.requestsFor(path)[1];
    assert.equal(new URLSearchParams(refresh.body).get('grant_type'), 'refresh_token');
    const sentRt = rawField(refresh.body, 'refresh_token');
    assert.notEqual(sentRt, RT);
    // The access token expired before this error: the client no longer holds it (see the
    // Worker test below for a token that is still held while a refresh fails).
    assertNoLeak({ error: err, stats: client.stats(), secrets: [RT, sentRt, SECRET] });
    assert.ok(err.description.includes('[redacted]'), err.description);
  });

  it('npm: error_uri: http(s) URLs are kept, anything else is dropped', T, async () => {
    const cases = [
      ['https://idp.example/errors/invalid_scope', 'https://idp.example/errors/invalid_scope'],
      ['http://idp.example/errors/x', 'http://idp.example/errors/x'],
      ['javascript:alert(1)', undefined],
      ['data:text/html,<script>alert(1)</script>', undefined],
      ['ftp://idp.example/x', undefined],
      ['/relative/errors', undefined],
    ];
    for (const [i, [uri, expected]] of cases.entries()) {
      const path = `/hostile/uri-${i}`;
      fx.script(path, { status: 400, body: { error: 'invalid_scope', error_description: 'unknown scope', error_uri: uri } });
      const err = await rejectsWith(make(path).getToken(), TokenError, 'invalid_scope', { status: 400 });
      assert.equal(err.uri, expected, uri);
    }
  });

  it("Worker: an IdP echoing the request → 502 whose answer holds neither the IdP's description nor the secret; nor does any log line hold the secret", T, async () => {
    const worker = await wEcho();
    const answer = await call(worker, '/echo/echo', { headers: keyHeader() });
    assertErrorJson(answer, 502, 'invalid_request');
    const sent = faults.requestsFor('/echo/worker')[0].body;
    const secrets = [W_ECHO_SECRET, rawField(sent, 'client_secret')];
    const everything = `${JSON.stringify([...answer.headers])}\n${answer.text}`;
    for (const text of ['ECHO-MARKER', 'X-Injected', 'javascript:', ...secrets]) {
      assert.ok(!everything.includes(text), `the answer holds ${text}: ${everything.slice(0, 400)}`);
    }
    await sleep(300);
    for (const line of worker.logs.map((l) => l.message)) {
      for (const secret of secrets) assert.ok(!line.includes(secret), `a log line holds the secret: ${line.slice(0, 300)}`);
    }
  });

  it('Worker: a background refresh failing with an echo of the tokens the isolate holds: requests keep the token, no log line holds a token or the secret', T, async () => {
    const worker = await wEchoRefresh();
    const started = Date.now();
    const seen = [];
    // The token (4 s) was requested after `started`; its refresh window opens 2 s before expiry.
    while (Date.now() < started + 3500 && !(faults.count('/echo/wrefresh') >= 2 && Date.now() > started + 2600)) {
      const answer = await call(worker, '/held/echo', { headers: keyHeader(), signal: AbortSignal.timeout(3000) });
      seen.push(answer.status === 200 ? answer.json.headers.authorization : `${answer.status} ${answer.text.slice(0, 80)}`);
      await sleep(100);
    }
    assert.deepEqual(tally(seen), { [`Bearer ${HELD_AT}`]: seen.length });
    assert.ok(faults.count('/echo/wrefresh') >= 2, 'a refresh was attempted');
    const refresh = faults.requestsFor('/echo/wrefresh')[1];
    assert.equal(new URLSearchParams(refresh.body).get('grant_type'), 'refresh_token');
    await sleep(300);
    const secrets = [HELD_AT, HELD_RT, rawField(refresh.body, 'refresh_token'), W_ECHO_SECRET, rawField(refresh.body, 'client_secret')];
    const lines = worker.logs.map((l) => l.message);
    assert.ok(lines.length >= seen.length, `debug lines: ${lines.length}`);
    for (const line of lines) {
      for (const secret of secrets) assert.ok(!line.includes(secret), `a log line holds ${secret}: ${line.slice(0, 300)}`);
    }
  });

  it('npm: JWT clock skew: expiresAt = sent + min(expires_in, exp − iat) with iat/exp an hour off the local clock', T, async () => {
    const now = () => Math.floor(Date.now() / 1000);
    const cases = [
      ['server clock 1 h behind, expires_in 900', () => ({ iat: now() - 3600, exp: now() - 3600 + 600 }), { expires_in: 900 }, 600],
      ['server clock 1 h ahead, no expires_in', () => ({ iat: now() + 3600, exp: now() + 3600 + 600 }), {}, 600],
      ['server clock 1 h ahead, expires_in 120', () => ({ iat: now() + 3600, exp: now() + 3600 + 600 }), { expires_in: 120 }, 120],
    ];
    for (const [i, [label, claims, extra, lifetime]] of cases.entries()) {
      const path = `/jwt/skew-${i}`;
      fx.script(path, { status: 200, body: { access_token: unsignedJwt({ sub: 'skew', ...claims() }), token_type: 'Bearer', ...extra } });
      const counting = countingFetch();
      const client = make(path, { fetch: counting.fetch });
      const info = await client.getTokenInfo();
      const expected = counting.calls[0].at + lifetime * 1000;
      assert.ok(Math.abs(info.expiresAt - expected) <= 1500, `${label}: expiresAt is ${Math.round((info.expiresAt - counting.calls[0].at) / 1000)} s after sending, expected ${lifetime} s`);
      await client.getToken();
      assert.equal(fx.count(path), 1, `${label}: the token is served from memory`);
    }
  });

  it('npm: a JWT expired at issue (exp ≤ iat; or exp past with neither iat nor expires_in) → invalid_response', T, async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases = [
      ['exp = iat', { iat: now, exp: now }, { expires_in: 300 }],
      ['exp < iat', { iat: now, exp: now - 10 }, { expires_in: 300 }],
      ['exp < iat, an hour off', { iat: now + 3600, exp: now + 3000 }, {}],
      ['exp past, no iat, no expires_in', { exp: now - 60 }, {}],
    ];
    for (const [i, [label, claims, extra]] of cases.entries()) {
      const path = `/jwt/expired-${i}`;
      const jwt = unsignedJwt({ sub: 'expired', ...claims });
      fx.script(path, { status: 200, body: { access_token: jwt, token_type: 'Bearer', ...extra } });
      const client = make(path, { maxRetries: 0 });
      let err;
      try {
        err = await rejectsWith(client.getToken(), TokenError, 'invalid_response');
      } catch (failure) {
        failure.message = `${label}: ${failure.message}`;
        throw failure;
      }
      assertNoLeak({ error: err, secrets: [jwt] });
      assert.equal(fx.count(path), 1, label);
    }
  });

  it('Worker: a JWT with exp ≤ iat → 502 invalid_response; after the cooldown, one with exp past and neither iat nor expires_in → 502 invalid_response', T, async () => {
    const worker = await wJwt();
    const originBefore = origin.count();
    const first = await call(worker, '/jwt/echo', { headers: keyHeader() });
    assertErrorJson(first, 502, 'invalid_response');
    assert.equal(fx.count('/hostile/wjwt'), 1);
    const past = unsignedJwt({ exp: Math.floor(Date.now() / 1000) - 60 });
    fx.script('/hostile/wjwt', { status: 200, body: { access_token: past, token_type: 'Bearer' } });
    await sleep(1100); // the first cooldown step is at most 1 s
    const second = await call(worker, '/jwt/echo', { headers: keyHeader() });
    assertErrorJson(second, 502, 'invalid_response');
    assert.equal(fx.count('/hostile/wjwt'), 2);
    assert.ok(!second.text.includes(past));
    assert.equal(origin.count(), originBefore);
  });
});

// =============================================================================================
// Nothing a caller sends can disturb other callers (Worker)
// =============================================================================================

describe('Worker: hostile callers', () => {
  let worker;
  before(async () => {
    origin.acceptTokens(() => true);
    worker = await newWorker();
    const warm = await call(worker, '/warm/echo', { headers: keyHeader() });
    assert.equal(warm.status, 200, warm.text);
  });

  /** The isolate still has its token: no token request since `before`, and the next request says "cache". */
  async function assertKeptToken(tokensBefore) {
    const next = await call(worker, '/after/echo', { headers: keyHeader() });
    assert.equal(next.status, 200, next.text);
    assert.equal(timingDesc(next), 'cache');
    assert.equal(auth.tokenRequests, tokensBefore, 'a new token request: the isolate lost its token');
  }

  it('`Connection: close, a b` and other invalid names in Connection: forwarded normally, requests in flight complete, the token is kept', T, async () => {
    const tokensBefore = auth.tokenRequests;
    const chunksBefore = origin.countRoute('chunks');
    const inFlight = Array.from({ length: 8 }, (_, i) => worker.dispatchFetch(`/conn/chunks?i=${i}`, { headers: keyHeader() })
      .then(async (res) => ({ status: res.status, bytes: (await res.arrayBuffer()).byteLength }))
      .catch((error) => ({ status: 'threw', bytes: 0, error: String(error) })));
    await waitFor(() => origin.countRoute('chunks') >= chunksBefore + 8, 5000, 'the streamed requests to reach the origin');

    for (const value of ['close, a b', 'a b', 'x(y), @z, "q"', ' , ,, ', 'close, \u00e9t\u00e9', 'close, proxy-authorization, host, content-length, authorization']) {
      const answer = await rawRequest(worker, '/conn/echo', [['Proxy-Authorization', `Bearer ${KEY}`], ['Connection', value]]);
      assert.equal(answer.status, 200, `Connection: ${value} → ${answer.status} ${answer.text.slice(0, 200)}`);
      assert.equal(answer.json?.path, '/base/conn/echo', `Connection: ${value}`);
      assert.match(answer.json.headers.authorization ?? '', /^Bearer eyJ/);
    }
    const streamed = await Promise.all(inFlight);
    assert.deepEqual(streamed.map((s) => `${s.status}:${s.bytes}`), Array(8).fill('200:5120'), JSON.stringify(streamed));
    await assertKeptToken(tokensBefore);
  });

  it('odd and oversized headers: each request gets its own answer (forwarded, or 4xx/5xx JSON); the token is kept', T, async (t) => {
    const tokensBefore = auth.tokenRequests;
    const seen = [];
    const auth_ = ['Proxy-Authorization', `Bearer ${KEY}`];
    const cases = [
      ['a 16 KiB header value', [auth_, ['X-Long', 'v'.repeat(16 * 1024)]]],
      ['obs-text bytes in a value', [auth_, ['X-Obs', '\u00ff\u00fe\u0080 latin1']]],
      ['100 headers', [auth_, ...Array.from({ length: 100 }, (_, i) => [`X-Many-${i}`, String(i)])]],
      ['a name made of every token character', [auth_, ["X-!#$%&'*+-.^_`|~", 'odd-name']]],
      ['an odd Accept-Encoding', [auth_, ['Accept-Encoding', 'gzip;q=bogus, *;q=-1, br;q=2']]],
      ['TE with parameters', [auth_, ['TE', 'trailers, deflate;q=0.5']]],
      ['an h2c upgrade', [auth_, ['Connection', 'Upgrade, HTTP2-Settings'], ['Upgrade', 'h2c'], ['HTTP2-Settings', 'AAMAAABkAAQAAP__']]],
      ['Transfer-Encoding: chunked on a GET', [auth_, ['Transfer-Encoding', 'chunked']]],
      ['Content-Length: 0 on a GET', [auth_, ['Content-Length', '0']]],
      ['two Authorization headers', [auth_, ['Authorization', 'Bearer a'], ['Authorization', 'Basic b']]],
      ['Proxy-Authorization twice', [auth_, ['Proxy-Authorization', 'Bearer other']]],
      ['an 8 KiB proxy key', [['Proxy-Authorization', `Bearer ${'k'.repeat(8 * 1024)}`]]],
      ['a latin1 proxy key', [['Proxy-Authorization', `Bearer \u00e9${KEY}`]]],
    ];
    for (const [label, headers] of cases) {
      let answer;
      try {
        answer = await rawRequest(worker, '/odd/echo', headers);
      } catch (error) {
        assert.fail(`${label}: no answer (${error.message})`);
      }
      seen.push(`${label}: ${answer.status}`);
      assertHandled(answer, label);
      if (answer.status === 200) assert.equal(answer.json?.path, '/base/odd/echo', label);
    }
    t.diagnostic(seen.join('; '));
    await assertKeptToken(tokensBefore);
  });

  it('malformed paths: each gets its own answer (forwarded under the base path, or 400 JSON); the token is kept', T, async (t) => {
    const tokensBefore = auth.tokenRequests;
    const seen = [];
    const targets = [
      '/%', '/%zz/echo', '/a%00b/echo', '/%C0%AE%C0%AE/echo', '/%ff%fe/echo', '/a/%2e%2E/echo', '/..;/echo',
      '/a//b/echo', '/%u002e%u002e/echo', '/%0d%0aX-Injected:%20yes/echo', '/%E2%80%AE/echo', '/echo?%', '/echo?a=%zz&b=%00',
      `/${'a'.repeat(4000)}/echo`, '/\u00e9/echo', '/a\\..\\b/echo', '/;/echo', '/echo#frag',
    ];
    for (const target of targets) {
      const originBefore = origin.count();
      let answer;
      try {
        answer = await rawRequest(worker, target, [['Proxy-Authorization', `Bearer ${KEY}`]]);
      } catch (error) {
        assert.fail(`${target.slice(0, 60)}: no answer (${error.message})`);
      }
      seen.push(`${target.slice(0, 24)}: ${answer.status}`);
      assertHandled(answer, target.slice(0, 60));
      if (answer.status < 400) {
        assert.equal(origin.count(), originBefore + 1, `${target.slice(0, 60)}: forwarded`);
        assert.ok(origin.requests.at(-1).url.startsWith('/base/'), `${target.slice(0, 60)} forwarded as ${origin.requests.at(-1).url.slice(0, 80)}`);
      } else {
        assert.equal(origin.count(), originBefore, `${target.slice(0, 60)}: refused, yet forwarded`);
      }
    }
    t.diagnostic(seen.join('; '));
    await assertKeptToken(tokensBefore);
  });

  it('proxy keys of any length are refused with 401 JSON (the right one still works)', T, async () => {
    const originBefore = origin.count();
    for (const key of ['', 'p', KEY.slice(0, -1), `${KEY}x`, KEY.repeat(50), KEY.toUpperCase(), `${KEY}\u00e9`]) {
      const answer = await rawRequest(worker, '/keys/echo', [['Proxy-Authorization', `Bearer ${key}`]]);
      assertErrorJson(answer, 401);
    }
    assert.equal(origin.count(), originBefore);
    assert.equal((await call(worker, '/keys/echo', { headers: keyHeader() })).status, 200);
  });

  it('bad configuration → 500 JSON naming the var, quoting no configured value (AUTH_METHOD, BASIC_AUTH_ENCODING, MAX_WAIT_MS)', T, async () => {
    const tokensBefore = auth.tokenRequests;
    const cases = [
      ['AUTH_METHOD', 'zq-Distinctive-Method-4471'],
      ['BASIC_AUTH_ENCODING', 'zq-Distinctive-Encoding-5582'],
      ['MAX_WAIT_MS', 'zq-Distinctive-Wait-6693'],
    ];
    const bad = await Promise.all(cases.map(([name, value]) => newWorker({ [name]: value, LOG_LEVEL: 'debug' })));
    for (const [i, [name, value]] of cases.entries()) {
      const answer = await call(bad[i], '/cfg/echo', { headers: keyHeader() });
      assertErrorJson(answer, 500, 'config');
      assert.ok(answer.json.message.includes(name), `${name}: ${answer.json.message}`);
      assert.ok(!answer.text.includes(value), `${name}: the answer quotes the value: ${answer.text}`);
      assert.ok(!answer.text.includes(CLIENT.clientSecret));
      await bad[i].waitForLogs(1, 3000).catch(() => {});
      assert.ok(bad[i].logs.some((l) => l.message.includes(name)), `${name}: the full message goes to the log: ${JSON.stringify(bad[i].logs)}`);
    }
    assert.equal(auth.tokenRequests, tokensBefore);
    await Promise.all(bad.map((w) => w.dispose()));
  });
});

// =============================================================================================
// URLs are read as fetch reads them; discovery is verified
// =============================================================================================

describe('URLs are read with the WHATWG parser; plain http only to loopback', () => {
  const REFUSED = [
    ['http://evil.example\\.localhost/t', 'evil.example'],
    ['http://localhost.evil.example/t', 'evil.example'],
    ['http://127.0.0.1.nip.io/t', 'nip.io'],
    ['https://user:pass@host/t', 'user:pass'],
    ['ftp://auth.example/t', 'auth.example'],
    ['ws://127.0.0.1:8080/t', undefined],
    ['file:///etc/passwd', undefined],
  ];
  const ACCEPTED = ['http://127.0.0.1:8080/t', 'http://[::1]/t', 'http://localhost/t'];

  it('npm: refused with code config (tokenUrl, issuer, keycloak.baseUrl); accepted: 127.0.0.1, [::1], localhost; no request either way', () => {
    const calls = [];
    const fetch = async (input) => { calls.push(String(input)); throw new Error('no I/O expected'); };
    for (const [url, quoted] of REFUSED) {
      for (const where of [{ tokenUrl: url }, { issuer: url.replace(/\/t$/, '') }]) {
        const err = throwsConfig(() => new TokenClient({ ...where, clientId: ID, clientSecret: SECRET, fetch }), TokenError);
        assertNoLeak({ error: err, secrets: [SECRET] });
        if (quoted === 'user:pass') assert.ok(!err.message.includes(quoted), err.message);
      }
    }
    throwsConfig(() => new TokenClient({ keycloak: { baseUrl: 'http://evil.example\\.localhost', realm: 'r' }, clientId: ID, clientSecret: SECRET, fetch }), TokenError);
    for (const url of ACCEPTED) {
      assert.ok(new TokenClient({ tokenUrl: url, clientId: ID, clientSecret: SECRET, fetch }) instanceof TokenClient, url);
      assert.ok(new TokenClient({ issuer: url.replace(/\/t$/, ''), clientId: ID, clientSecret: SECRET, fetch }) instanceof TokenClient, url);
    }
    assert.deepEqual(calls, []);
  });

  it('Worker: TOKEN_URL refused → 500 config naming TOKEN_URL without its value; accepted ones are no config error', T, async () => {
    const tokensBefore = auth.tokenRequests;
    const all = [...REFUSED.map(([url, quoted]) => ({ url, quoted, refused: true })), ...ACCEPTED.map((url) => ({ url, refused: false }))];
    const started = await Promise.all(all.map(({ url }) => newWorker({ TOKEN_URL: url, MAX_RETRIES: '0', TIMEOUT_MS: '1000' })));
    try {
      for (const [i, { url, quoted, refused }] of all.entries()) {
        const answer = await call(started[i], '/url/echo', { headers: keyHeader(), signal: AbortSignal.timeout(8000) });
        if (refused) {
          assertErrorJson(answer, 500, 'config');
          assert.ok(answer.json.message.includes('TOKEN_URL'), `${url}: ${answer.json.message}`);
          if (quoted) assert.ok(!answer.text.includes(quoted), `${url}: the answer quotes the value: ${answer.text}`);
        } else {
          assert.notEqual(answer.status, 'threw', `${url}: ${answer.text}`);
          assert.ok(answer.json?.code !== 'config', `${url} refused: ${answer.text}`);
        }
      }
    } finally {
      await Promise.all(started.map((w) => w.dispose()));
    }
    assert.equal(auth.tokenRequests, tokensBefore);
  });
});

describe('discovery is verified', () => {
  const OIDC = '/.well-known/openid-configuration';
  const RFC8414 = '/.well-known/oauth-authorization-server';
  let other;
  const wDisc = lazyWorker(() => ({ TOKEN_URL: undefined, ISSUER: `${fx.url}/wdisc` }));
  before(async () => {
    other = await startFixtureServer();
    fx.script(`/wdisc${OIDC}`, { status: 200, body: { issuer: 'https://idp.attacker.example', token_endpoint: `${fx.url}/wdisc/token` } });
    fx.script(`/wdisc${RFC8414}`, { status: 200, body: { issuer: 'https://idp.attacker.example', token_endpoint: `${fx.url}/wdisc/token` } });
    fx.script('/wdisc/token', { status: 200, body: okBody('wdisc-never') });
    wDisc.warm();
  });
  after(async () => {
    await other?.close();
  });

  it('npm: a metadata issuer other than the configured one → invalid_response naming the issuer; no token request (a matching one works)', T, async () => {
    fx.script(`/disc-ok${OIDC}`, { status: 200, body: { issuer: `${fx.url}/disc-ok`, token_endpoint: `${fx.url}/disc-ok/token` } });
    fx.script('/disc-ok/token', { status: 200, body: okBody('disc-ok-token') });
    assert.equal(await new TokenClient({ issuer: `${fx.url}/disc-ok`, clientId: ID, clientSecret: SECRET }).getToken(), 'disc-ok-token');

    for (const [i, issuer] of ['https://idp.attacker.example', `${fx.url}/another-issuer`, fx.url].entries()) {
      const base = `/disc-bad-${i}`;
      const doc = { status: 200, body: { issuer, token_endpoint: `${fx.url}${base}/token` } };
      fx.script(`${base}${OIDC}`, doc);
      fx.script(`${base}${RFC8414}`, doc);
      fx.script(`${base}/token`, { status: 200, body: okBody('disc-never') });
      const client = new TokenClient({ issuer: `${fx.url}${base}`, clientId: ID, clientSecret: SECRET, maxRetries: 0 });
      const err = await rejectsWith(client.getToken(), TokenError, 'invalid_response');
      assert.match(err.message, /issuer/i, issuer);
      assert.equal(fx.count(`${base}/token`), 0, `${issuer}: the token endpoint was contacted`);
    }
  });

  it('npm: only a 200 JSON object counts as metadata (an array, null, a string, a 203, a 200 HTML page → invalid_response; no token request)', T, async () => {
    const answers_ = [
      ['a JSON array', { status: 200, body: [{ issuer: 'x', token_endpoint: 'y' }] }],
      ['JSON null', { status: 200, headers: { 'content-type': 'application/json' }, body: 'null' }],
      ['a JSON string', { status: 200, headers: { 'content-type': 'application/json' }, body: '"metadata"' }],
      ['a 203', { status: 203, body: 'OBJECT' }],
      ['an HTML page', { status: 200, headers: { 'content-type': 'text/html' }, body: '<html>metadata</html>' }],
    ];
    for (const [i, [label, answer]] of answers_.entries()) {
      const base = `/disc-shape-${i}`;
      const issuer = `${fx.url}${base}`;
      const resolved = answer.body === 'OBJECT' ? { ...answer, body: { issuer, token_endpoint: `${issuer}/token` } } : answer;
      fx.script(`${base}${OIDC}`, resolved);
      fx.script(`${base}${RFC8414}`, resolved);
      fx.script(`${base}/token`, { status: 200, body: okBody('disc-shape-never') });
      const client = new TokenClient({ issuer, clientId: ID, clientSecret: SECRET, maxRetries: 0 });
      try {
        await rejectsWith(client.getToken(), TokenError, 'invalid_response');
      } catch (failure) {
        failure.message = `${label}: ${failure.message}`;
        throw failure;
      }
      assert.equal(fx.count(`${base}/token`), 0, `${label}: the token endpoint was contacted`);
    }
  });

  it('Worker: a metadata issuer other than ISSUER → 502 invalid_response; no token request', T, async () => {
    const answer = await call(await wDisc(), '/disc/echo', { headers: keyHeader() });
    assertErrorJson(answer, 502, 'invalid_response');
    assert.equal(fx.count('/wdisc/token'), 0);
  });

  it('npm: a discovery redirect to another origin is not followed', T, async () => {
    const base = '/disc-redirect';
    const issuer = `${fx.url}${base}`;
    for (const path of [OIDC, RFC8414]) {
      fx.script(`${base}${path}`, { status: 302, headers: { location: `${other.url}${path}` }, body: '' });
      other.script(path, { status: 200, body: { issuer, token_endpoint: `${other.url}/token` } });
    }
    other.script('/token', { status: 200, body: okBody('redirected-never') });
    const client = new TokenClient({ issuer, clientId: ID, clientSecret: SECRET, maxRetries: 0 });
    let err;
    try {
      await client.getToken();
    } catch (error) {
      err = error;
    }
    assert.ok(err instanceof TokenError, `expected a TokenError, got ${err}`);
    assert.notEqual(err.code, 'config', err.message);
    assert.equal(other.requests.length, 0, `the other origin got: ${other.requests.map((r) => r.path).join(', ')}`);
  });

  it("npm: a discovered token_endpoint over plain http to a non-loopback host is refused (invalid_response); nothing is sent there", T, async () => {
    for (const tokenEndpoint of ['http://10.1.2.3/token', 'http://evil.example\\.localhost/token', 'http://localhost.evil.example/token']) {
      const calls = [];
      const fetch = async (input) => {
        const url = String(input instanceof Request ? input.url : input);
        calls.push(url);
        if (url.includes('/.well-known/')) {
          return new Response(JSON.stringify({ issuer: 'https://auth.example', token_endpoint: tokenEndpoint }), { headers: { 'content-type': 'application/json' } });
        }
        return new Response(JSON.stringify(okBody('must-not-be-fetched')), { headers: { 'content-type': 'application/json' } });
      };
      const client = new TokenClient({ issuer: 'https://auth.example', clientId: ID, clientSecret: SECRET, fetch, maxRetries: 0 });
      await rejectsWith(client.getToken(), TokenError, 'invalid_response');
      assert.ok(calls.length >= 1 && calls.every((url) => url.startsWith('https://auth.example/.well-known/')), `${tokenEndpoint}: ${calls.join(', ')}`);
    }
  });
});

describe('options are own properties only', () => {
  it('npm: Object.prototype.allowInsecureHttp = true does not allow plain http to a non-loopback host', () => {
    Object.prototype.allowInsecureHttp = true; // eslint-disable-line no-extend-native
    try {
      throwsConfig(() => new TokenClient({ tokenUrl: 'http://auth.example.com/token', clientId: ID, clientSecret: SECRET }), TokenError);
    } finally {
      delete Object.prototype.allowInsecureHttp;
    }
  });

  it('npm: a polluted Object.prototype (fetch, scope, extraParams, grant, headerName, authMethod, issuer, keycloak, timeoutMs) changes nothing', T, async () => {
    const path = '/pollution/token';
    fx.script(path, { status: 200, body: okBody('clean-token') });
    let pollutedFetchCalls = 0;
    const polluted = {
      fetch: async () => { pollutedFetchCalls += 1; throw new Error('polluted fetch'); },
      scope: 'polluted:scope',
      extraParams: { audience: 'polluted-audience' },
      grant: { type: 'password', username: 'polluted-user', password: 'polluted-pass' },
      headerName: 'X-Polluted',
      authMethod: 'client_secret_post',
      basicAuthEncoding: 'raw',
      issuer: 'https://polluted.example',
      keycloak: { baseUrl: 'https://kc.polluted.example', realm: 'p' },
      timeoutMs: 1,
      maxWaitMs: 1,
    };
    for (const [name, value] of Object.entries(polluted)) {
      Object.defineProperty(Object.prototype, name, { value, configurable: true, writable: true, enumerable: false }); // eslint-disable-line no-extend-native
    }
    let header;
    try {
      const client = make(path);
      header = await client.authorizationHeader();
    } finally {
      for (const name of Object.keys(polluted)) delete Object.prototype[name];
    }
    assert.deepEqual(header, ['Authorization', 'Bearer clean-token']);
    assert.equal(pollutedFetchCalls, 0);
    const [sent] = fx.requestsFor(path);
    const form = new URLSearchParams(sent.body);
    assert.equal(form.get('grant_type'), 'client_credentials');
    assert.equal(form.get('scope'), null);
    assert.equal(form.get('audience'), null);
    assert.equal(form.get('client_secret'), null, 'client_secret_basic, the default');
    assert.match(sent.headers.authorization ?? '', /^Basic /);
  });
});

describe('per-call options are own properties only', () => {
  it('npm: Object.prototype.forceRefresh = true does not make every call fetch a new token', T, async () => {
    const path = '/pollution-per-call/token';
    fx.script(path, Array.from({ length: 5 }, (_, i) => ({ status: 200, body: okBody(`per-call-${i + 1}`) })));
    const client = make(path);
    assert.equal(await client.getToken(), 'per-call-1');
    Object.defineProperty(Object.prototype, 'forceRefresh', { value: true, configurable: true, writable: true }); // eslint-disable-line no-extend-native
    try {
      for (let i = 0; i < 5; i++) {
        assert.equal(await client.getToken({}), 'per-call-1');
        assert.equal((await client.getTokenInfo({ signal: new AbortController().signal })).accessToken, 'per-call-1');
      }
    } finally {
      delete Object.prototype.forceRefresh;
    }
    assert.equal(fx.count(path), 1, 'no token request beyond the first');
  });
});

describe("InfoLink's nested invalid_grant body counts only from the token endpoint's origin", () => {
  let api;
  before(async () => { api = await startFixtureServer(); });
  after(async () => { await api?.close(); });
  const NESTED = { result: { code: 'invalid_grant', message: 'Credentials or token is invalid or expired' }, status: 'error' };
  const tokens = (prefix) => Array.from({ length: 3 }, (_, i) => ({ status: 200, body: okBody(`${prefix}-${i + 1}`) }));

  it('npm: from another origin: the 400 reaches the caller; no renewal, the POST is not sent again', T, async () => {
    fx.script('/il-other/token', tokens('il-other'));
    api.script('/il/api', [{ status: 400, body: NESTED }, { status: 200, body: { ok: true } }]);
    const client = make('/il-other/token');
    const res = await client.fetch(`${api.url}/il/api`, { method: 'POST', body: JSON.stringify({ job: 1 }), headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), NESTED);
    assert.equal(api.count('/il/api'), 1, 'the POST was sent again');
    assert.equal(fx.count('/il-other/token'), 1, 'a renewal');
  });

  it("npm: from the token endpoint's origin, a 4xx whose body stalls is handed back after timeoutMs, not waited on", T, async () => {
    const stalled = slowBody({ status: 400, prefix: '{"result":', intervalMs: 1000, maxBytes: 30 });
    faults.route('/il-stall/api', stalled);
    faults.route('/il-stall/token', (req, res) => sendJson(res, 200, okBody('il-stall-1')));
    const client = new TokenClient({ tokenUrl: `${faults.url}/il-stall/token`, clientId: ID, clientSecret: SECRET, timeoutMs: 500 });
    const started = Date.now();
    const res = await client.fetch(`${faults.url}/il-stall/api`);
    assert.equal(res.status, 400);
    assert.ok(Date.now() - started < 3_000, `handed back after ${Date.now() - started} ms`);
    res.body?.cancel().catch(() => {});
    assert.equal(stalled.stats.requests, 1, 'not sent again');
  });

  it("npm: from the token endpoint's origin: the token is renewed and the POST sent once more", T, async () => {
    fx.script('/il-same/token', tokens('il-same'));
    fx.script('/il-same/api', [{ status: 400, body: NESTED }, { status: 200, body: { ok: true } }]);
    const client = make('/il-same/token');
    const res = await client.fetch(`${fx.url}/il-same/api`, { method: 'POST', body: JSON.stringify({ job: 2 }), headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 200);
    assert.equal(fx.count('/il-same/api'), 2);
    assert.equal(fx.count('/il-same/token'), 2);
    const [first, second] = fx.requestsFor('/il-same/api');
    assert.equal(first.headers.authorization, 'Bearer il-same-1');
    assert.equal(second.headers.authorization, 'Bearer il-same-2');
    assert.equal(second.body, JSON.stringify({ job: 2 }));
  });
});

// =============================================================================================

describe('no Worker answer or log line carries a secret', () => {
  it('no answer (headers, non-2xx bodies) or log line contains a client secret, the proxy key or a token', () => {
    const tokens = origin.tokens().filter((t) => t.length >= 8);
    assert.ok(tokens.length >= 3, `tokens captured from the origin: ${tokens.length}`);
    const secrets = [CLIENT.clientSecret, WRONG_SECRET, KEY, 'wecho-Secret+/=%&5Rt', ...tokens];
    assert.ok(answers.length > 100, `${answers.length} answers recorded`);
    for (const answer of answers) {
      const text = `${JSON.stringify(answer.headers)}\n${answer.body ?? ''}`;
      for (const secret of secrets) assert.ok(!text.includes(secret), `a ${answer.status} answer holds a secret: ${text.slice(0, 300)}`);
    }
    for (const line of workers.flatMap((w) => w.logs.map((l) => l.message))) {
      for (const secret of secrets) assert.ok(!line.includes(secret), `a log line holds a secret: ${line.slice(0, 300)}`);
    }
  });
});
