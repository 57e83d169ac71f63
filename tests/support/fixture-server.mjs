// A scriptable HTTP server on 127.0.0.1 for fault injection and for replaying responses
// exactly as vendors document them.
//
//   const fx = await startFixtureServer();
//   fx.script('/token', [
//     { status: 503, headers: { 'retry-after': '1' }, body: { error: 'temporarily_unavailable' } },
//     { status: 200, body: { access_token: 'x', token_type: 'Bearer', expires_in: 60 } },
//   ]);
//
// Each request to a path takes the next scripted response; the last one stays and answers
// every further request. script() replaces whatever was queued for that path before.
// A response is { status = 200, headers = {}, body, delayMs = 0, hang = false }:
// body is sent as is when it is a string (or Buffer), as JSON otherwise (with
// content-type application/json unless headers set one); hang: true never answers.
// Unscripted paths answer 404. Every response carries Access-Control-Allow-Origin: *
// (scripted headers may override it) and CORS preflights (OPTIONS with
// Access-Control-Request-Method) answer 204 without touching the queue or the record.
//
// Over HTTP (for browser tests), on the same server:
//   POST /__script   {"path": "/token", "responses": [...]}  -> 204
//   GET  /__requests?path=/token                              -> JSON array of requests
//   POST /__reset                                             -> 204 (clears scripts and record)
//
// CLI: node tests/support/fixture-server.mjs --port 9998
//      prints one JSON line {"url": ...} and runs until SIGTERM/SIGINT.

import http from 'node:http';

import { answerPreflight, closer, listen, requestHandler, runCli } from './loopback.mjs';

const CONTROL_PATHS = new Set(['/__script', '/__requests', '/__reset']);

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function normalizeResponse(response) {
  if (response === null || typeof response !== 'object' || Array.isArray(response)) {
    throw new TypeError('each scripted response must be an object');
  }
  const status = response.status ?? 200;
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new TypeError(`invalid scripted status ${response.status}`);
  }
  return {
    status,
    headers: { ...(response.headers ?? {}) },
    body: response.body,
    delayMs: response.delayMs ?? 0,
    hang: response.hang === true,
  };
}

function sendJson(res, status, value) {
  const text = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

export async function startFixtureServer(options = {}) {
  const scripts = new Map(); // path -> queue of normalized responses
  const requests = [];
  const timers = new Set();
  let preflights = 0;

  function script(path, responses) {
    if (typeof path !== 'string' || !path.startsWith('/')) throw new TypeError('path must start with "/"');
    const list = Array.isArray(responses) ? responses : [responses];
    if (list.length === 0) throw new TypeError('script needs at least one response');
    scripts.set(path, list.map(normalizeResponse));
  }

  function reset() {
    scripts.clear();
    requests.length = 0;
    preflights = 0;
  }

  function nextResponse(path) {
    const queue = scripts.get(path);
    if (!queue) return undefined;
    return queue.length > 1 ? queue.shift() : queue[0];
  }

  function sendScripted(res, response) {
    const headers = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': '*' };
    let payload;
    if (response.body === undefined) {
      payload = '';
    } else if (typeof response.body === 'string' || Buffer.isBuffer(response.body)) {
      payload = response.body;
    } else {
      payload = JSON.stringify(response.body);
      headers['content-type'] = 'application/json';
    }
    // Scripted headers win (matched case-insensitively against the defaults above).
    for (const [name, value] of Object.entries(response.headers)) {
      for (const existing of Object.keys(headers)) {
        if (existing.toLowerCase() === name.toLowerCase()) delete headers[existing];
      }
      headers[name] = value;
    }
    res.writeHead(response.status, headers);
    res.end(payload);
  }

  async function handleControl(req, res, url) {
    const path = url.pathname;
    if (path === '/__script' && req.method === 'POST') {
      let parsed;
      try {
        parsed = JSON.parse(await readBody(req));
        script(parsed.path, parsed.responses);
      } catch (err) {
        return sendJson(res, 400, { error: 'bad_script', error_description: String(err.message ?? err) });
      }
      res.writeHead(204);
      return res.end();
    }
    if (path === '/__requests' && req.method === 'GET') {
      const wanted = url.searchParams.get('path');
      return sendJson(res, 200, wanted === null ? requests : requests.filter((r) => r.path === wanted));
    }
    if (path === '/__reset' && req.method === 'POST') {
      req.resume();
      reset();
      res.writeHead(204);
      return res.end();
    }
    req.resume();
    return sendJson(res, 405, { error: 'method_not_allowed' });
  }

  async function handle(req, res) {
    const url = new URL(req.url, 'http://127.0.0.1');
    res.setHeader('Access-Control-Allow-Origin', '*');

    if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
      req.resume();
      preflights += 1;
      return answerPreflight(res, 'GET, POST');
    }

    if (CONTROL_PATHS.has(url.pathname)) return handleControl(req, res, url);

    const entry = {
      method: req.method,
      path: url.pathname,
      query: url.search,
      headers: { ...req.headers },
      body: await readBody(req),
    };
    requests.push(entry);

    const response = nextResponse(url.pathname);
    if (!response) {
      return sendJson(res, 404, { error: 'not_scripted', path: url.pathname });
    }
    if (response.hang) return undefined; // keep the connection open; close() destroys it
    if (response.delayMs > 0) {
      await new Promise((resolve) => {
        const timer = setTimeout(() => {
          timers.delete(timer);
          resolve();
        }, response.delayMs);
        timers.add(timer);
      });
      if (res.destroyed || req.socket.destroyed) return undefined;
    }
    return sendScripted(res, response);
  }

  const server = http.createServer(requestHandler(handle, (res, err) => sendJson(res, 500, { error: 'fixture_failure', error_description: String(err) })));
  const { url, port } = await listen(server, options.port ?? 0);

  return {
    url,
    port,
    requests,
    get preflights() { return preflights; },
    script,
    reset,
    /** Number of (non-preflight) requests recorded for a path. */
    count(path) {
      return requests.reduce((n, r) => n + (r.path === path ? 1 : 0), 0);
    },
    requestsFor(path) {
      return requests.filter((r) => r.path === path);
    },
    close: closer(server, timers),
  };
}

await runCli(import.meta.url, {
  name: 'fixture-server',
  start: ({ port }) => startFixtureServer({ port }),
  describe: (server) => ({ url: server.url }),
});
