// The Cloudflare Worker proxy (src/worker/) end to end: the built Worker
// (build/, `bash .ci/build-worker`; rebuilt here when src/ is newer) in workerd through
// miniflare, against a real oidc-provider and an echo origin on 127.0.0.1.
// Run: node --test tests/e2e/worker.test.mjs
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';

import { CLIENTS, closedPortUrl, startAuthServer } from '../support/auth-server.mjs';
import { jwtPayload } from '../support/e2e-helpers.mjs';
import {
  CHUNK_BYTES, CHUNK_COUNT, REDIRECT_LOCATION, startEchoOrigin,
} from '../support/echo-origin.mjs';
import { startFixtureServer } from '../support/fixture-server.mjs';
import { ensureWorkerBuilt, startWorker } from '../support/worker-harness.mjs';

const KEYS = ['proxy-key-Alpha-4417', 'proxy-key-Bravo-9032'];
const WRONG_SECRET = 'wrong-secret-Tq55-never-valid';
const CLIENT = CLIENTS.basic;
const SERVER_TIMING = /^token;dur=\d+(\.\d+)?;desc="(cache|fetch|refresh)"$/;

// Shared servers (started once) and everything the final leak check looks at.
let auth;
let origin;
let evil;
const workers = [];
const answers = []; // { status, headers: [[name, value]], body? } of every response seen

function keyHeader(key = KEYS[0]) {
  return { 'proxy-authorization': `Bearer ${key}` };
}

async function start(bindings) {
  const worker = await startWorker({ bindings });
  workers.push(worker);
  return worker;
}

/**
 * The Worker's answer, recorded; the body read as text (and JSON when it parses). Through
 * miniflare's dispatchFetch, or with `{ http: true }` as a real HTTP request (the only way
 * a body keeps its content-length: dispatchFetch streams every body).
 */
async function call(worker, target, { http: overHttp = false, ...init } = {}) {
  const res = await (overHttp ? worker.fetch(target, init) : worker.dispatchFetch(target, init));
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  // Bodies of 2xx answers come from the echo origin, which reflects the token on purpose.
  answers.push({ status: res.status, headers: [...res.headers], body: res.status >= 300 ? text : undefined });
  return { res, status: res.status, headers: res.headers, text, json };
}

function recordHeaders(res) {
  answers.push({ status: res.status, headers: [...res.headers] });
}

function desc(res) {
  const timing = res.headers.get('server-timing');
  assert.match(timing ?? '', SERVER_TIMING, `Server-Timing: ${timing}`);
  return SERVER_TIMING.exec(timing)[2];
}

function sha256(data) {
  return createHash('sha256').update(data).digest('hex');
}

/** A ReadableStream of `total` bytes from `source` (a Buffer, repeated as needed). */
function streamOf(source, total, { chunk = 64 * 1024, pauseAfter, pause } = {}) {
  let sent = 0;
  let paused = false;
  return new ReadableStream({
    async pull(controller) {
      if (pauseAfter !== undefined && !paused && sent >= pauseAfter) {
        paused = true;
        await pause();
      }
      if (sent >= total) {
        controller.close();
        return;
      }
      const size = Math.min(chunk, total - sent);
      const start = sent % source.length;
      const piece = Buffer.alloc(size);
      for (let copied = 0; copied < size;) {
        const from = (start + copied) % source.length;
        const n = Math.min(size - copied, source.length - from);
        source.copy(piece, copied, from, from + n);
        copied += n;
      }
      sent += size;
      controller.enqueue(new Uint8Array(piece));
    },
  });
}

function bytesOf(source, total) {
  const out = Buffer.alloc(total);
  for (let i = 0; i < total; i += source.length) source.copy(out, i, 0, Math.min(source.length, total - i));
  return out;
}

async function until(predicate, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * One HTTP/1.1 request to the Worker's listening socket with exactly this request target
 * and these headers (nothing normalizes the target or filters hop-by-hop headers on the
 * way, as fetch would). `Connection: close` unless the headers have a Connection header.
 */
function rawRequest(worker, requestTarget, headerLines) {
  const { hostname, port } = new URL(worker.url);
  const headers = headerLines.map((line) => {
    const i = line.indexOf(':');
    return [line.slice(0, i).trim(), line.slice(i + 1).trim()];
  });
  if (!headers.some(([name]) => /^connection$/i.test(name))) headers.push(['Connection', 'close']);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: hostname,
      port: Number(port),
      method: 'GET',
      path: requestTarget,
      agent: false,
      setHost: false,
      headers: headers.flat(),
    }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        answers.push({ status: res.statusCode, headers: Object.entries(res.headers), body: res.statusCode >= 300 ? body : undefined });
        resolve({ status: res.statusCode, headers: res.headers, body });
        req.destroy();
      });
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`raw request ${requestTarget} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

function baseBindings(extra = {}) {
  const bindings = {
    ORIGIN_URL: `${origin.url}/base`,
    TOKEN_URL: auth.tokenUrl,
    CLIENT_ID: CLIENT.clientId,
    CLIENT_SECRET: CLIENT.clientSecret,
    PROXY_KEYS: KEYS.join(','),
    LOG_LEVEL: 'debug',
    ...extra,
  };
  return Object.fromEntries(Object.entries(bindings).filter(([, value]) => value !== undefined));
}

function assertErrorJson(answer, status, code) {
  assert.equal(answer.status, status, answer.text);
  assert.match(answer.headers.get('content-type') ?? '', /^application\/json/);
  assert.ok(answer.json, `a JSON body: ${answer.text}`);
  assert.equal(typeof answer.json.error, 'string');
  assert.equal(typeof answer.json.message, 'string');
  if (code !== undefined) assert.equal(answer.json.code, code, answer.text);
  else assert.equal(typeof answer.json.code, 'string');
}

before(async () => {
  await ensureWorkerBuilt();
  [auth, origin, evil] = await Promise.all([startAuthServer(), startEchoOrigin(), startEchoOrigin()]);
}, { timeout: 240_000 });

after(async () => {
  await Promise.all(workers.map((w) => w.dispose()));
  await Promise.all([auth?.close(), origin?.close(), evil?.close()]);
});

// ------------------------------------------------------------------------------------------
describe('proxying with keys (one warm Worker)', () => {
  let worker;
  before(async () => {
    worker = await start(baseBindings());
  });

  it('the bearer from oidc-provider reaches the origin; path and query go under the base path; Server-Timing says "fetch" first, "cache" after', async () => {
    const tokensBefore = auth.tokenRequests;
    const first = await call(worker, '/v1/items/echo?x=1&y=two%20words', { headers: keyHeader() });
    assert.equal(first.status, 200, first.text);
    assert.equal(desc(first.res), 'fetch');
    assert.equal(auth.tokenRequests, tokensBefore + 1);
    const seen = first.json;
    assert.equal(seen.method, 'GET');
    assert.equal(seen.path, '/base/v1/items/echo');
    assert.equal(seen.query, '?x=1&y=two%20words');
    assert.equal(seen.headers.host, origin.host);
    assert.match(seen.headers.authorization, /^Bearer eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    const token = seen.headers.authorization.slice('Bearer '.length);
    assert.equal(jwtPayload(token).client_id, CLIENT.clientId);

    const second = await call(worker, '/echo', { headers: keyHeader(KEYS[1]) });
    assert.equal(second.status, 200, second.text);
    assert.equal(desc(second.res), 'cache');
    assert.equal(second.json.headers.authorization, `Bearer ${token}`);
    assert.equal(auth.tokenRequests, tokensBefore + 1, 'the second request used the cached token');
  });

  it('drops the proxy key and hop-by-hop headers (also one named in Connection) and replaces an inbound Authorization', async () => {
    // Raw bytes, so no HTTP client filters these headers before the Worker sees them.
    const answer = await rawRequest(worker, '/echo', [
      `Host: ${new URL(worker.url).host}`,
      `Proxy-Authorization: Bearer ${KEYS[0]}`,
      'Authorization: Bearer caller-supplied-token',
      'Connection: close, X-Hop-Named',
      'X-Hop-Named: must-not-travel',
      'Keep-Alive: timeout=5',
      'TE: trailers',
      'Upgrade: websocket',
      'Proxy-Connection: keep-alive',
      'X-End-To-End: kept',
    ]);
    assert.equal(answer.status, 200, answer.body);
    const { headers } = JSON.parse(answer.body);
    for (const name of ['proxy-authorization', 'connection', 'keep-alive', 'te', 'upgrade', 'proxy-connection', 'x-hop-named']) {
      assert.equal(headers[name], undefined, `${name} reached the origin: ${headers[name]}`);
    }
    assert.equal(headers['x-end-to-end'], 'kept');
    assert.match(headers.authorization, /^Bearer eyJ/);
    assert.ok(!JSON.stringify(headers).includes('caller-supplied-token'));
    assert.ok(!JSON.stringify(headers).includes(KEYS[0]));

    // The same through an ordinary client (fetch), with a custom key-less inbound Authorization.
    const viaFetch = await call(worker, '/echo', {
      headers: { ...keyHeader(), authorization: 'Basic Y2FsbGVyOnB3', 'x-end-to-end': 'kept' },
    });
    assert.equal(viaFetch.status, 200);
    assert.match(viaFetch.json.headers.authorization, /^Bearer eyJ/);
    assert.equal(viaFetch.json.headers['proxy-authorization'], undefined);
    assert.equal(viaFetch.json.headers['x-end-to-end'], 'kept');
  });

  it('drops hop-by-hop response headers (also one named in the origin\'s Connection), with a fetched and with a cached token', async () => {
    // workerd's own fetch drops the header the origin's Connection names; the proxy's list
    // covers runtimes that do not.
    const worker = await start(baseBindings());
    for (const source of ['fetch', 'cache']) {
      const answer = await call(worker, '/hop', { headers: keyHeader() });
      assert.equal(answer.status, 200, source);
      assert.equal(answer.headers.get('x-origin-hop'), null, `${source}: X-Origin-Hop came back`);
      assert.equal(answer.headers.get('keep-alive'), null, `${source}: Keep-Alive came back`);
      assert.equal(answer.headers.get('x-end-to-end'), 'kept', source);
      assert.match(answer.headers.get('server-timing') ?? '', new RegExp(`^token;dur=[\\d.]+;desc="${source}"$`), source);
    }
  });

  it('a wrong or missing key gives 401 and contacts neither the origin nor the token endpoint', async () => {
    const originBefore = origin.count();
    const tokensBefore = auth.tokenRequests;
    const attempts = [
      {},
      { 'proxy-authorization': 'Bearer not-a-key' },
      { 'proxy-authorization': `Bearer ${KEYS[0]}x` },
      { 'proxy-authorization': `Bearer ${KEYS[0].slice(0, -1)}` },
      { 'proxy-authorization': 'Bearer ' },
      { 'proxy-authorization': KEYS.join(',') },
      { authorization: `Bearer ${KEYS[0]}` }, // the key in the wrong header
    ];
    for (const headers of attempts) {
      const answer = await call(worker, '/echo', { headers });
      assertErrorJson(answer, 401);
      assert.ok(!answer.text.includes(KEYS[0]) && !answer.text.includes(KEYS[1]));
    }
    const post = await call(worker, '/upload', { method: 'POST', body: 'x'.repeat(1000), headers: { 'content-type': 'text/plain' } });
    assert.equal(post.status, 401);
    assert.equal(origin.count(), originBefore, 'the origin was never contacted');
    assert.equal(auth.tokenRequests, tokensBefore);
    // The bare key (no "Bearer ") is accepted too.
    const bare = await call(worker, '/echo', { headers: { 'proxy-authorization': KEYS[1] } });
    assert.equal(bare.status, 200);
  });

  it('streams the response: the first chunk reaches the caller before the origin sends the last', async () => {
    const res = await worker.dispatchFetch('/stream/chunks', { headers: keyHeader() });
    recordHeaders(res);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    desc(res);
    const reader = res.body.getReader();
    const received = [];
    let firstAt;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      firstAt ??= Date.now();
      received.push(Buffer.from(value));
    }
    const body = Buffer.concat(received);
    assert.equal(body.length, CHUNK_COUNT * CHUNK_BYTES);
    for (let i = 0; i < CHUNK_COUNT; i += 1) assert.equal(body[i * CHUNK_BYTES], 0x30 + i);
    assert.equal(origin.chunkLog.length, CHUNK_COUNT);
    const lastSentAt = origin.chunkLog[CHUNK_COUNT - 1].sentAt;
    assert.ok(firstAt < lastSentAt, `first chunk at ${firstAt}, last sent at ${lastSentAt}: the response was buffered`);
    assert.ok(firstAt < origin.chunkLog[2].sentAt, 'the first chunk arrived before the third was even sent');
  });

  it('streams a 10 MB upload to the origin intact (the origin sees it before the caller has finished sending)', { timeout: 30_000 }, async () => {
    const total = 10 * 1024 * 1024;
    const pattern = randomBytes(1024 * 1024 + 7);
    const expected = sha256(bytesOf(pattern, total));
    const uploadsBefore = origin.countRoute('upload');
    let sawRequestMidBody = false;
    const body = streamOf(pattern, total, {
      pauseAfter: 2 * 1024 * 1024,
      // Hold the rest of the body until the origin has the request: only a streamed
      // request can be there already (a buffered one would wait for the whole body).
      pause: async () => {
        try {
          await until(() => origin.countRoute('upload') > uploadsBefore, 5000, 'the origin to see the upload');
          sawRequestMidBody = true;
        } catch { /* asserted below */ }
      },
    });
    const answer = await call(worker, '/files/upload', {
      method: 'POST',
      body,
      duplex: 'half',
      headers: { ...keyHeader(), 'content-type': 'application/octet-stream' },
    });
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(answer.json, { sha256: expected, bytes: total });
    assert.ok(sawRequestMidBody, 'the origin received the request while the caller was still sending the body');
    const record = origin.requests.findLast((r) => r.path === '/base/files/upload');
    assert.equal(record.sha256, expected);
    assert.equal(record.bytes, total);
  });

  it('returns a redirect from the origin as is (302 + Location), without following it', async () => {
    const before = origin.countRoute('redirect');
    const answer = await call(worker, '/go/redirect', { headers: keyHeader() });
    assert.equal(answer.status, 302);
    assert.equal(answer.headers.get('location'), REDIRECT_LOCATION);
    desc(answer.res);
    assert.equal(origin.countRoute('redirect'), before + 1);
  });

  it('an origin 401 leads to one refresh and one retry; Server-Timing says "refresh"', async () => {
    // Warm: the current token is known; the origin now refuses it (as if it was revoked).
    const warm = await call(worker, '/echo', { headers: keyHeader() });
    const oldToken = warm.json.headers.authorization.slice('Bearer '.length);
    origin.acceptTokens((token) => token !== oldToken);
    const tokensBefore = auth.tokenRequests;
    const secureBefore = origin.countRoute('secure');

    const answer = await call(worker, '/api/secure', { headers: keyHeader() });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(desc(answer.res), 'refresh');
    assert.equal(auth.tokenRequests, tokensBefore + 1, 'exactly one new token request');
    assert.equal(origin.countRoute('secure'), secureBefore + 2, 'the origin saw the request and one retry');
    const [refused, retried] = origin.requests.filter((r) => r.path === '/base/api/secure').slice(-2);
    assert.equal(refused.headers.authorization, `Bearer ${oldToken}`);
    assert.match(retried.headers.authorization, /^Bearer eyJ/);
    assert.notEqual(retried.headers.authorization, refused.headers.authorization);

    // The new token is cached: the next request does not refresh.
    const next = await call(worker, '/api/secure', { headers: keyHeader() });
    assert.equal(next.status, 200);
    assert.equal(desc(next.res), 'cache');
    assert.equal(auth.tokenRequests, tokensBefore + 1);
  });

  it('a POST with a small JSON body is retried after an origin 401 with the same body', async () => {
    const revoked = new Set(origin.tokens());
    origin.acceptTokens((token) => !revoked.has(token));
    const tokensBefore = auth.tokenRequests;
    const secureBefore = origin.countRoute('secure');
    const payload = JSON.stringify({ order: 42, items: ['a', 'b'], note: 'x'.repeat(2000) });

    const answer = await call(worker, '/orders/secure', {
      http: true, // with its content-length (dispatchFetch would stream it: not replayable)
      method: 'POST',
      body: payload,
      headers: { ...keyHeader(), 'content-type': 'application/json' },
    });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(desc(answer.res), 'refresh');
    assert.equal(auth.tokenRequests, tokensBefore + 1);
    assert.equal(origin.countRoute('secure'), secureBefore + 2);
    const [refused, retried] = origin.requests.filter((r) => r.path === '/base/orders/secure').slice(-2);
    for (const r of [refused, retried]) {
      assert.equal(r.method, 'POST');
      assert.equal(r.sha256, sha256(payload));
      assert.equal(r.bytes, Buffer.byteLength(payload));
      assert.equal(r.headers['content-type'], 'application/json');
      assert.equal(r.headers['content-length'], String(Buffer.byteLength(payload)));
    }
  });

  it('a large (> 64 KB) body gets the origin 401 back without a retry (streamed, or with a length)', async () => {
    origin.acceptTokens(() => false);
    const tokensBefore = auth.tokenRequests;
    const secureBefore = origin.countRoute('secure');
    const big = randomBytes(100 * 1024);

    const streamed = await call(worker, '/bulk/secure', {
      method: 'POST',
      body: streamOf(big, big.length, { chunk: 16 * 1024 }),
      duplex: 'half',
      headers: { ...keyHeader(), 'content-type': 'application/octet-stream' },
    });
    assert.equal(streamed.status, 401);
    assert.equal(streamed.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
    desc(streamed.res);
    assert.equal(origin.countRoute('secure'), secureBefore + 1, 'no retry');
    assert.equal(origin.requests.at(-1).sha256, sha256(big), 'the body reached the origin whole');

    const sized = await call(worker, '/bulk/secure', {
      http: true,
      method: 'POST',
      body: big,
      headers: { ...keyHeader(), 'content-type': 'application/octet-stream' },
    });
    assert.equal(sized.status, 401);
    assert.equal(origin.countRoute('secure'), secureBefore + 2, 'no retry');
    assert.equal(auth.tokenRequests, tokensBefore, 'no refresh for a request that cannot be retried');
    origin.acceptTokens(() => true);
  });

  it('Server-Timing is on every proxied response', async () => {
    origin.acceptTokens(() => false);
    const targets = [
      ['/echo', {}],
      ['/a/b/c?d=e', {}],
      ['/go/redirect', {}],
      ['/x/secure', { method: 'POST', body: streamOf(Buffer.from('s'), 10, {}), duplex: 'half' }],
      ['/x/upload', { method: 'PUT', body: 'payload' }],
      ['/echo', { method: 'DELETE' }],
      ['/echo', { method: 'HEAD' }],
    ];
    for (const [target, init] of targets) {
      const answer = await call(worker, target, { ...init, headers: keyHeader() });
      assert.ok([200, 302, 401].includes(answer.status), `${target}: ${answer.status}`);
      assert.ok(['cache', 'fetch', 'refresh'].includes(desc(answer.res)), target);
    }
    origin.acceptTokens(() => true);
  });

  it('LOG_LEVEL=debug: exactly one JSON line per request, without query, headers or tokens', async () => {
    const isRequestLine = (l) => l.message.includes('"edgeOauth"');
    await new Promise((resolve) => setTimeout(resolve, 200)); // lines of earlier tests
    const before = worker.logs.filter(isRequestLine).length;
    const sent = [
      { target: '/log/echo?secret=query-value', init: { headers: keyHeader() }, status: 200 },
      { target: '/log/denied', init: { headers: { 'proxy-authorization': 'Bearer wrong' } }, status: 401 },
      { target: '/log/..%2Fx', init: { headers: keyHeader() }, status: 400 },
      { target: '/log/upload', init: { method: 'POST', body: 'abc', headers: keyHeader() }, status: 200 },
    ];
    for (const { target, init, status } of sent) {
      const answer = await call(worker, target, init);
      assert.equal(answer.status, status, `${target}: ${answer.text}`);
    }
    await until(() => worker.logs.filter(isRequestLine).length >= before + sent.length, 5000, 'log lines');
    await new Promise((resolve) => setTimeout(resolve, 200)); // no extra line may follow
    const lines = worker.logs.filter(isRequestLine).slice(before);
    assert.equal(lines.length, sent.length, lines.map((l) => l.message).join('\n'));
    const parsed = lines.map((l) => JSON.parse(l.message));
    assert.deepEqual(parsed.map((p) => p.status), sent.map((s) => s.status));
    assert.deepEqual(parsed.map((p) => p.method), ['GET', 'GET', 'GET', 'POST']);
    assert.equal(parsed[0].path, '/log/echo');
    assert.equal(parsed[0].token, 'cache');
    assert.equal(parsed[1].token, 'none');
    for (const p of parsed) assert.equal(typeof p.ms, 'number');
    assert.ok(!lines.some((l) => l.message.includes('query-value')), 'the query is not logged');
  });
});

// ------------------------------------------------------------------------------------------
describe('SSRF: every attempt stays on the origin', () => {
  let withBase;
  let noBase;
  before(async () => {
    [withBase, noBase] = await Promise.all([
      start(baseBindings()),
      start(baseBindings({ ORIGIN_URL: origin.url })),
    ]);
  });

  function attempts() {
    const E = evil.host;
    return [
      `/http://${E}/x`,
      `/https://${E}/x`,
      `//${E}/x`,
      `///${E}/x`,
      `/@${E}`,
      `/@${E}/x`,
      `/%2e%2e/%2e%2e/x`,
      `/..%2Fx`,
      `/a/%2F..`,
      `/a/%2f%2e%2e%2f%2e%2e/x`,
      `/a/..%5C..%5Cx`,
      `/%2F%2F${E}/x`,
      `/%5C%5C${E}/x`,
      `/..`,
      `/./x`,
      `/a/../../x`,
      `/?next=http://${E}/x`,
    ];
  }

  function assertStayed(answer, target, basePath, originBefore) {
    if (answer.status === 400) {
      assert.equal(origin.count(), originBefore, `${target}: a 400 must not reach the origin`);
      return;
    }
    assert.equal(answer.status, 200, `${target}: ${answer.status} ${answer.body ?? answer.text}`);
    assert.equal(origin.count(), originBefore + 1, `${target}: the origin got it`);
    const record = origin.requests.at(-1);
    assert.equal(record.headers.host, origin.host, `${target}: Host at the origin`);
    assert.ok(record.url.startsWith(`${basePath}/`), `${target}: forwarded as ${record.url}`);
  }

  for (const [label, getWorker, basePath] of [
    ['ORIGIN_URL with a base path', () => withBase, '/base'],
    ['ORIGIN_URL without a path', () => noBase, ''],
  ]) {
    it(`${label}: paths through fetch, with a Host header of the evil host`, async () => {
      const worker = getWorker();
      for (const target of attempts()) {
        const before = origin.count();
        const answer = await call(worker, target, { headers: { ...keyHeader(), host: evil.host } });
        assertStayed(answer, target, basePath, before);
      }
      assert.equal(evil.count(), 0, `the evil server got: ${evil.requests.map((r) => r.url).join(', ')}`);
    });

    it(`${label}: raw request targets (not normalized by a client), Host and absolute-form`, async () => {
      const worker = getWorker();
      const own = new URL(worker.url).host;
      for (const target of attempts()) {
        for (const host of [own, evil.host]) {
          const before = origin.count();
          const answer = await rawRequest(worker, target, [`Host: ${host}`, `Proxy-Authorization: Bearer ${KEYS[0]}`]);
          assertStayed(answer, `${target} (Host ${host})`, basePath, before);
        }
      }
      // Absolute-form request targets. workerd (as miniflare runs it) refuses these itself
      // with a 500 before any Worker code runs; whatever answers, nothing may leave.
      for (const target of [`http://${evil.host}/x`, `http://${own}/abs`, `http://${evil.host}//${evil.host}/x`]) {
        const before = origin.count();
        const answer = await rawRequest(worker, target, [`Host: ${evil.host}`, `Proxy-Authorization: Bearer ${KEYS[0]}`]);
        if (answer.status >= 500) {
          assert.equal(origin.count(), before, `${target}: refused, yet forwarded`);
          assert.ok(!answer.body.includes('edgeOauth'));
        } else {
          assertStayed(answer, target, basePath, before);
        }
      }
      // An absolute URL whose host is the evil one, through fetch (the Worker sees that URL).
      const before = origin.count();
      const viaFetch = await call(worker, `http://${evil.host}/abs/echo`, { headers: keyHeader() });
      assertStayed(viaFetch, 'absolute URL via fetch', basePath, before);
      assert.equal(evil.count(), 0, `the evil server got: ${evil.requests.map((r) => r.url).join(', ')}`);
    });
  }
});

// ------------------------------------------------------------------------------------------
describe('access configuration and AUTH_HEADER', () => {
  it('PROXY_KEY_HEADER: the key is read from that header (not Proxy-Authorization), which is not forwarded', async () => {
    const worker = await start(baseBindings({ PROXY_KEY_HEADER: 'X-Proxy-Key' }));
    const ok = await call(worker, '/echo', { headers: { 'x-proxy-key': KEYS[1] } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.headers['x-proxy-key'], undefined);
    assert.match(ok.json.headers.authorization, /^Bearer eyJ/);
    const bearerForm = await call(worker, '/echo', { headers: { 'x-proxy-key': `Bearer ${KEYS[0]}` } });
    assert.equal(bearerForm.status, 200);

    const before = origin.count();
    const wrongHeader = await call(worker, '/echo', { headers: keyHeader() });
    assertErrorJson(wrongHeader, 401);
    assert.match(wrongHeader.json.message, /x-proxy-key/i);
    const wrongKey = await call(worker, '/echo', { headers: { 'x-proxy-key': 'nope' } });
    assertErrorJson(wrongKey, 401);
    assert.equal(origin.count(), before);
  });

  it('ALLOW_ANONYMOUS=true without PROXY_KEYS lets anyone through; AUTH_HEADER=Authentication carries the token', async () => {
    const worker = await start(baseBindings({
      PROXY_KEYS: undefined, ALLOW_ANONYMOUS: 'true', AUTH_HEADER: 'Authentication',
    }));
    const answer = await call(worker, '/anon/echo', { headers: { authentication: 'Bearer caller-token' } });
    assert.equal(answer.status, 200, answer.text);
    desc(answer.res);
    assert.match(answer.json.headers.authentication, /^Bearer eyJ/);
    assert.equal(answer.json.headers.authorization, undefined);
    assert.ok(!answer.text.includes('caller-token'), 'the inbound Authentication was replaced');
    assert.equal(jwtPayload(answer.json.headers.authentication.slice(7)).client_id, CLIENT.clientId);
  });

  it('neither PROXY_KEYS nor ALLOW_ANONYMOUS: 500 JSON naming PROXY_KEYS; nothing contacted', async () => {
    const worker = await start(baseBindings({ PROXY_KEYS: undefined }));
    const originBefore = origin.count();
    const tokensBefore = auth.tokenRequests;
    for (const headers of [{}, keyHeader()]) {
      const answer = await call(worker, '/echo', { headers });
      assertErrorJson(answer, 500);
      assert.match(answer.json.message, /PROXY_KEYS/);
      assert.match(answer.json.message, /ALLOW_ANONYMOUS/);
      assert.ok(!answer.text.includes(CLIENT.clientSecret));
    }
    assert.equal(origin.count(), originBefore);
    assert.equal(auth.tokenRequests, tokensBefore);
  });
});

// ------------------------------------------------------------------------------------------
describe('configuration errors: 500 JSON naming the var, never a secret', () => {
  const cases = [
    ['ORIGIN_URL missing', { ORIGIN_URL: undefined }, /ORIGIN_URL/],
    ['TOKEN_URL plain http to a non-loopback host', { TOKEN_URL: 'http://auth.example.com/oauth2/token' }, /ALLOW_INSECURE_HTTP/],
    ['ORIGIN_URL plain http to a non-loopback host', { ORIGIN_URL: 'http://api.example.com/v1' }, /ALLOW_INSECURE_HTTP/],
    ['CLIENT_ID missing', { CLIENT_ID: undefined }, /CLIENT_ID/],
    ['no token endpoint', { TOKEN_URL: undefined }, /TOKEN_URL/],
    ['MAX_RETRIES not a number', { MAX_RETRIES: 'lots' }, /MAX_RETRIES/],
  ];
  for (const [label, override, names] of cases) {
    it(label, async () => {
      const worker = await start(baseBindings(override));
      const originBefore = origin.count();
      const tokensBefore = auth.tokenRequests;
      const answer = await call(worker, '/echo', { headers: keyHeader() });
      assertErrorJson(answer, 500, 'config');
      assert.match(answer.json.message, names);
      assert.ok(!answer.text.includes(CLIENT.clientSecret), 'no secret in the answer');
      assert.ok(!answer.text.includes(KEYS[0]) && !answer.text.includes(KEYS[1]), 'no proxy key in the answer');
      assert.equal(origin.count(), originBefore);
      assert.equal(auth.tokenRequests, tokensBefore);
      await worker.dispose();
    });
  }
});

// ------------------------------------------------------------------------------------------
describe('token endpoint failures: 502/503 JSON, the origin never called', () => {
  let fixture;
  before(async () => {
    fixture = await startFixtureServer();
  });
  after(async () => {
    await fixture?.close();
  });

  it('token endpoint down (connection refused) → 503 with Retry-After', async () => {
    const down = await closedPortUrl();
    const worker = await start(baseBindings({ TOKEN_URL: `${down}/token`, MAX_RETRIES: '0', TIMEOUT_MS: '2000' }));
    const before = origin.count();
    const answer = await call(worker, '/echo', { headers: keyHeader() });
    assertErrorJson(answer, 503);
    assert.match(answer.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    assert.equal(origin.count(), before);
  });

  it('token endpoint hanging past TIMEOUT_MS → 503 with Retry-After', async () => {
    fixture.script('/hang', { hang: true });
    const worker = await start(baseBindings({ TOKEN_URL: `${fixture.url}/hang`, MAX_RETRIES: '0', TIMEOUT_MS: '300' }));
    const before = origin.count();
    const answer = await call(worker, '/echo', { headers: keyHeader() });
    assertErrorJson(answer, 503, 'timeout');
    assert.match(answer.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    assert.equal(origin.count(), before);
  });

  it('token endpoint answering 429 with Retry-After: 7 → 503 with Retry-After: 7', async () => {
    fixture.script('/token429', {
      status: 429, headers: { 'retry-after': '7' }, body: { error: 'slow_down' },
    });
    const worker = await start(baseBindings({ TOKEN_URL: `${fixture.url}/token429`, MAX_RETRIES: '0' }));
    const before = origin.count();
    const answer = await call(worker, '/echo', { headers: keyHeader() });
    assertErrorJson(answer, 503);
    assert.equal(answer.headers.get('retry-after'), '7');
    assert.equal(fixture.count('/token429'), 1);
    assert.equal(origin.count(), before);
  });

  it('token endpoint answering 503 with Retry-After as an RFC 850 date → 503 with Retry-After in seconds', async () => {
    // "Sunday, 06-Nov-94 08:49:37 GMT" style, 8-9 s from now: read by Date.parse.
    const at = new Date(Date.now() + 9000);
    const rfc850 = at.toUTCString().replace(/^(\w{3}), (\d\d) (\w{3}) \d\d(\d\d)/, (_, day, d, mon, yy) => {
      const days = { Sun: 'Sunday', Mon: 'Monday', Tue: 'Tuesday', Wed: 'Wednesday', Thu: 'Thursday', Fri: 'Friday', Sat: 'Saturday' };
      return `${days[day]}, ${d}-${mon}-${yy}`;
    });
    fixture.script('/token503date', {
      status: 503, headers: { 'retry-after': rfc850 }, body: { error: 'temporarily_unavailable' },
    });
    const worker = await start(baseBindings({ TOKEN_URL: `${fixture.url}/token503date`, MAX_RETRIES: '0' }));
    const answer = await call(worker, '/echo', { headers: keyHeader() });
    assertErrorJson(answer, 503);
    const seconds = Number(answer.headers.get('retry-after'));
    assert.ok(seconds >= 6 && seconds <= 9, `Retry-After: ${answer.headers.get('retry-after')} for ${rfc850}`);
  });

  it('a wrong client secret (invalid_client) → 502 JSON {error, code: invalid_client, message}', async () => {
    const worker = await start(baseBindings({ CLIENT_SECRET: WRONG_SECRET, MAX_RETRIES: '0' }));
    const before = origin.count();
    const tokensBefore = auth.tokenRequests;
    const answer = await call(worker, '/echo', { headers: keyHeader() });
    assertErrorJson(answer, 502, 'invalid_client');
    assert.equal(answer.headers.get('retry-after'), null);
    assert.ok(!answer.text.includes(WRONG_SECRET));
    assert.equal(auth.tokenRequests, tokensBefore + 1);
    assert.equal(origin.count(), before);
  });

  it('an unreachable origin → 502 JSON (origin_unreachable), no token in it', async () => {
    const down = await closedPortUrl();
    const worker = await start(baseBindings({ ORIGIN_URL: `${down}/base` }));
    const answer = await call(worker, '/echo', { headers: keyHeader() });
    assertErrorJson(answer, 502, 'network');
    assert.equal(answer.json.error, 'origin_unreachable');
    assert.ok(!/eyJ/.test(answer.text));
  });

  it('a token failure answer is logged like any other request (LOG_LEVEL=debug)', {
  }, async () => {
    const worker = await start(baseBindings({ CLIENT_SECRET: WRONG_SECRET, MAX_RETRIES: '0' }));
    const answer = await call(worker, '/log/echo', { headers: keyHeader() });
    assert.equal(answer.status, 502);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const lines = worker.logs.filter((l) => l.message.includes('"edgeOauth"'));
    assert.equal(lines.length, 1, `log lines: ${JSON.stringify(worker.logs.map((l) => l.message))}`);
    assert.equal(JSON.parse(lines[0].message).status, 502);
  });
});

// ------------------------------------------------------------------------------------------
describe('a cold isolate under load', () => {
  let coldAuth;
  after(async () => {
    await coldAuth?.close();
  });

  it('500 concurrent requests make exactly one token request, all 200 with that token', { timeout: 30_000 }, async () => {
    coldAuth = await startAuthServer();
    coldAuth.setDelay(150); // every request arrives while the first token request is in flight
    const worker = await start(baseBindings({ TOKEN_URL: coldAuth.tokenUrl, LOG_LEVEL: undefined }));
    const before = origin.count();
    const results = await Promise.all(Array.from({ length: 500 }, async (_, i) => {
      const res = await worker.dispatchFetch(`/load/echo?i=${i}`, { headers: keyHeader(KEYS[i % 2]) });
      const json = await res.json();
      return { status: res.status, timing: res.headers.get('server-timing'), json };
    }));
    assert.deepEqual([...new Set(results.map((r) => r.status))], [200]);
    assert.equal(coldAuth.tokenRequests, 1);
    assert.equal(origin.count(), before + 500);
    const tokens = new Set(results.map((r) => r.json.headers.authorization));
    assert.equal(tokens.size, 1);
    assert.ok(results.every((r) => SERVER_TIMING.test(r.timing)));
    assert.ok(results.some((r) => r.timing.endsWith('desc="fetch"')));
    assert.ok(!worker.logs.some((l) => l.message.includes('"edgeOauth"')), 'no request lines without LOG_LEVEL=debug');
  });
});

// ------------------------------------------------------------------------------------------
describe('a background refresh outlives the request that started it', () => {
  let shortAuth;
  after(async () => {
    await shortAuth?.close();
  });

  // workerd cancels what a finished request left running: a refresh started by a request that
  // was answered from the cache must be kept alive (ctx.waitUntil), or every later request
  // waits on it forever.
  it('the next token comes from the refresh a cache hit started', { timeout: 30_000 }, async () => {
    shortAuth = await startAuthServer();
    shortAuth.setAccessTokenTtl(4);
    const worker = await start(baseBindings({ TOKEN_URL: shortAuth.tokenUrl, LOG_LEVEL: undefined, MAX_WAIT_MS: '3000' }));
    const first = await call(worker, '/bg/echo', { http: true, headers: keyHeader() });
    assert.equal(first.status, 200);
    const firstToken = first.json.headers.authorization;
    // A 4 s JWT lives 3 s here (its whole-second iat); refresh-ahead from 1.5 s, served to 2.25 s.
    await new Promise((resolve) => setTimeout(resolve, 1_700));
    shortAuth.setDelay(400); // the refresh is still out when the request that starts it ends
    const hit = await call(worker, '/bg/echo', { http: true, headers: keyHeader() });
    assert.equal(hit.json.headers.authorization, firstToken, 'served from the cache');
    await new Promise((resolve) => setTimeout(resolve, 900));
    const after = await call(worker, '/bg/echo', { http: true, headers: keyHeader() });
    assert.equal(after.status, 200, after.text);
    assert.notEqual(after.json.headers.authorization, firstToken, 'the refreshed token');
    assert.equal(shortAuth.tokenRequests, 2, 'the background refresh was the second and last token request');
  });
});

describe('a GET that says it has an empty body', () => {
  it('Content-Length: 0 or chunked framing on a GET is forwarded without a body', async () => {
    const worker = await start(baseBindings({ LOG_LEVEL: undefined }));
    for (const framing of [{ 'content-length': '0' }, { 'transfer-encoding': 'chunked' }]) {
      const status = await new Promise((resolve, reject) => {
        const request = http.request(`${worker.url}empty/echo`, {
          method: 'GET',
          headers: { ...keyHeader(), ...framing, 'accept-encoding': 'identity' },
        }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode));
        });
        request.on('error', reject);
        request.end();
      });
      assert.equal(status, 200, JSON.stringify(framing));
    }
  });
});

describe('no secret, key or token leaks', () => {
  it('no log line, response body or header contains the client secret, a proxy key or an issued token', () => {
    const tokens = [...new Set([...origin.tokens(), ...evil.tokens()])].filter((t) => t.startsWith('eyJ'));
    assert.ok(tokens.length >= 3, `tokens captured from the origin: ${tokens.length}`);
    const secrets = [CLIENT.clientSecret, WRONG_SECRET, ...KEYS, ...tokens];
    const lines = workers.flatMap((w) => w.logs.map((l) => l.message));
    assert.ok(lines.some((l) => l.includes('"edgeOauth"')), 'debug lines were captured');
    for (const line of lines) {
      for (const secret of secrets) assert.ok(!line.includes(secret), `log line leaks a secret: ${line.slice(0, 200)}`);
    }
    assert.ok(answers.length > 50);
    for (const answer of answers) {
      const text = `${JSON.stringify(answer.headers)}\n${answer.body ?? ''}`;
      for (const secret of secrets) {
        assert.ok(!text.includes(secret), `a ${answer.status} answer leaks a secret: ${text.slice(0, 300)}`);
      }
    }
  });
});
