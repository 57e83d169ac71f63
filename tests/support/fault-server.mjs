// A fault-injection HTTP server on http://127.0.0.1:PORT for the faults the scripted fixture
// server (fixture-server.mjs) cannot produce, because they need code rather than a canned
// answer: a body that trickles in, a huge chunked body, an answer that echoes the request.
//
//   const faults = await startFaultServer();
//   faults.route('/slow', slowBody());                       // headers, then 1 byte a second
//   const huge = hugeBody({ totalBytes: 64 * 2 ** 20 });     // chunked, no Content-Length
//   faults.route('/huge', huge);  …  huge.stats.written      // bytes the client took
//   faults.route('/echo', (req, res, { body, form, index }) => sendJson(res, 400, { … }));
//   faults.count('/slow'), faults.requestsFor('/echo')        // { method, path, headers, body }
//   await faults.close()                                      // drops hanging streams too
//
// A handler is `(req, res, ctx)` with ctx = { body (the request body as text), form (it as
// URLSearchParams), index (0 for the first request to that path, 1 for the next, …), wait(ms) }.
// Unrouted paths answer 404 JSON. Every request is recorded before its handler runs.

import http from 'node:http';

import { closer, listen, requestHandler, sleeper } from './loopback.mjs';

export function sendJson(res, status, value, headers = {}) {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** Resolves when `res` can take more (or has closed); false once it has closed. */
function drained(res) {
  if (res.destroyed || res.writableEnded) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (value) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(value);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

/**
 * Sends the status line and headers at once, then `byte` every `intervalMs` (chunked), up to
 * `maxBytes`, then ends. `stats.written` counts the bytes sent, `stats.requests` the requests.
 */
export function slowBody({
  status = 200,
  contentType = 'application/json',
  prefix = '',
  byte = ' ',
  intervalMs = 1000,
  maxBytes = 120,
} = {}) {
  const stats = { requests: 0, written: 0, closedEarly: 0 };
  const handler = async (req, res, { wait }) => {
    stats.requests += 1;
    res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
    res.flushHeaders();
    if (prefix) {
      res.write(prefix);
      stats.written += Buffer.byteLength(prefix);
    }
    for (let sent = 0; sent < maxBytes; sent += 1) {
      await wait(intervalMs);
      if (res.destroyed) {
        stats.closedEarly += 1;
        return;
      }
      res.write(byte);
      stats.written += 1;
    }
    res.end();
  };
  handler.stats = stats;
  return handler;
}

/**
 * A `totalBytes` body sent chunked (no Content-Length) with backpressure, so `stats.written`
 * is what the client actually took (plus the socket buffers); the server itself holds one
 * chunk. The body starts like a token response and never becomes valid JSON.
 */
export function hugeBody({
  totalBytes = 64 * 1024 * 1024,
  chunkBytes = 64 * 1024,
  status = 200,
  contentType = 'application/json',
} = {}) {
  // written: bytes sent over every request; perRequest[i]: bytes sent for request i.
  const stats = { requests: 0, written: 0, perRequest: [], completed: 0, closedEarly: 0 };
  const head = Buffer.from('{"token_type":"Bearer","expires_in":300,"access_token":"');
  const chunk = Buffer.alloc(chunkBytes, 0x61); // 'a'
  const handler = async (req, res) => {
    const i = stats.requests;
    stats.requests += 1;
    stats.perRequest[i] = 0;
    const count = (n) => {
      stats.written += n;
      stats.perRequest[i] += n;
    };
    let closed = false;
    res.on('close', () => { closed = true; });
    res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
    res.write(head);
    count(head.length);
    while (stats.perRequest[i] < totalBytes && !closed) {
      const more = res.write(chunk);
      count(chunk.length);
      if (!more && !(await drained(res))) break;
    }
    if (closed || res.destroyed) {
      stats.closedEarly += 1;
      return;
    }
    res.end();
    stats.completed += 1;
  };
  handler.stats = stats;
  return handler;
}

export async function startFaultServer(options = {}) {
  const routes = new Map();
  const indexes = new Map();
  const requests = [];
  const timers = new Set();
  const wait = sleeper(timers);

  async function handle(req, res) {
    const path = new URL(req.url, 'http://127.0.0.1').pathname;
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks).toString('utf8');
    requests.push({ method: req.method, path, headers: { ...req.headers }, body, at: Date.now() });
    const index = indexes.get(path) ?? 0;
    indexes.set(path, index + 1);
    const handler = routes.get(path);
    if (!handler) return sendJson(res, 404, { error: 'not_routed', path });
    return handler(req, res, { body, form: new URLSearchParams(body), index, wait });
  }

  const server = http.createServer(requestHandler(handle, (res, err) => sendJson(res, 500, { error: 'fault_server_failure', error_description: String(err?.message ?? err) })));
  server.on('clientError', (_err, socket) => socket.destroy());
  const { url, port } = await listen(server, options.port ?? 0);

  return {
    url,
    port,
    requests,
    /** Routes `path` to `handler(req, res, ctx)`; replaces an earlier one and restarts its index. */
    route(path, handler) {
      if (typeof path !== 'string' || !path.startsWith('/')) throw new TypeError('path must start with "/"');
      routes.set(path, handler);
      indexes.set(path, 0);
    },
    count(path) {
      return requests.reduce((n, r) => n + (r.path === path ? 1 : 0), 0);
    },
    requestsFor(path) {
      return requests.filter((r) => r.path === path);
    },
    close: closer(server, timers),
  };
}
