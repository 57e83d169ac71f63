// An "origin" API for the Worker proxy tests, on http://127.0.0.1:PORT. It records every
// request it receives (method, raw request target, path, query, headers, body sha256 and
// length) and answers by route. The route is the LAST path segment, so the same routes work
// under any base path (ORIGIN_URL=http://127.0.0.1:PORT/base → /base/echo is the echo route):
//
//   …/echo      200 JSON of what it saw: { method, url, path, query, headers, sha256, bytes }
//   …/chunks    200 application/octet-stream, 5 chunks of 1 KiB sent 200 ms apart; the send
//               time of each chunk (Date.now()) is in origin.chunkLog[i].sentAt
//   …/upload    reads the body into a sha256 as it arrives; 200 JSON { sha256, bytes }
//   …/redirect  302 Location: http://example.invalid/elsewhere
//   …/hop       200 JSON like /echo, with hop-by-hop response headers: Keep-Alive, and
//               X-Origin-Hop named in Connection; X-End-To-End: kept
//   …/secure    401 unless the bearer token is accepted by the policy the test sets with
//               origin.acceptTokens(set | predicate) (default: nothing is accepted), then 200
//               JSON like /echo. Simulates an origin that refuses a revoked or old token.
//   anything else: as /echo.
//
//   const origin = await startEchoOrigin();          // { url, host, port, … }
//   origin.requests            every request, oldest first
//   origin.count(path?)        requests to exactly `path` (all requests without one)
//   origin.countRoute(route)   requests whose last segment is `route` ('echo', 'secure', …)
//   origin.tokens()            every distinct bearer token seen (Authorization or any header)
//   origin.reset()             clears the record
//   await origin.close()

import { createHash } from 'node:crypto';
import http from 'node:http';

import { closer, listen, requestHandler, sleeper } from './loopback.mjs';

export const CHUNK_COUNT = 5;
export const CHUNK_INTERVAL_MS = 200;
export const CHUNK_BYTES = 1024;
export const REDIRECT_LOCATION = 'http://example.invalid/elsewhere';

function routeOf(path) {
  const segments = path.split('/');
  return segments[segments.length - 1];
}

function bearerOf(headers, headerName) {
  const value = headers[headerName.toLowerCase()];
  if (typeof value !== 'string') return undefined;
  const match = /^bearer\s+(\S+)\s*$/i.exec(value);
  return match ? match[1] : undefined;
}

/**
 * @param {{ port?: number, host?: string, tokenHeader?: string }} [options]
 *   tokenHeader: the header /secure reads the bearer from (default 'authorization').
 */
export async function startEchoOrigin(options = {}) {
  const host = options.host ?? '127.0.0.1';
  const requests = [];
  const chunkLog = [];
  const timers = new Set();
  let tokenHeader = options.tokenHeader ?? 'authorization';
  let accepts = () => false;

  const wait = sleeper(timers);

  function sendJson(res, status, value, headers = {}) {
    const text = JSON.stringify(value);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }

  async function handle(req, res) {
    const parsed = new URL(req.url.startsWith('/') ? `http://origin.invalid${req.url}` : 'http://origin.invalid/');
    const entry = {
      method: req.method,
      url: req.url,
      path: req.url.startsWith('/') ? req.url.split('?')[0] : req.url,
      query: parsed.search,
      headers: { ...req.headers },
      rawHeaders: [...req.rawHeaders],
      receivedAt: Date.now(),
      sha256: undefined,
      bytes: undefined,
      complete: false,
    };
    requests.push(entry);

    // Every body is hashed as it streams in (the /upload route answers with the result).
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of req) {
      hash.update(chunk);
      bytes += chunk.length;
    }
    entry.sha256 = hash.digest('hex');
    entry.bytes = bytes;
    entry.complete = true;

    const seen = {
      method: entry.method,
      url: entry.url,
      path: entry.path,
      query: entry.query,
      headers: entry.headers,
      sha256: entry.sha256,
      bytes: entry.bytes,
    };
    switch (routeOf(entry.path)) {
      case 'chunks': {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'no-store' });
        res.flushHeaders();
        for (let i = 0; i < CHUNK_COUNT; i += 1) {
          if (i > 0) await wait(CHUNK_INTERVAL_MS);
          if (res.destroyed) return;
          res.write(Buffer.alloc(CHUNK_BYTES, 0x30 + i));
          chunkLog.push({ index: i, sentAt: Date.now() });
        }
        res.end();
        return;
      }
      case 'upload':
        sendJson(res, 200, { sha256: entry.sha256, bytes: entry.bytes });
        return;
      case 'hop':
        sendJson(res, 200, seen, {
          connection: 'keep-alive, X-Origin-Hop',
          'keep-alive': 'timeout=5',
          'x-origin-hop': 'must-not-travel',
          'x-end-to-end': 'kept',
        });
        return;
      case 'redirect':
        res.writeHead(302, { location: REDIRECT_LOCATION, 'content-length': '0' });
        res.end();
        return;
      case 'secure': {
        const token = bearerOf(entry.headers, tokenHeader);
        if (token === undefined || !accepts(token)) {
          sendJson(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
          return;
        }
        sendJson(res, 200, seen);
        return;
      }
      default:
        sendJson(res, 200, seen);
    }
  }

  const server = http.createServer(requestHandler(handle, (res) => sendJson(res, 500, { error: 'echo_failure' })));
  server.on('clientError', (_err, socket) => socket.destroy());
  const { url, port } = await listen(server, options.port ?? 0, host);

  return {
    url,
    host: `${host}:${port}`,
    port,
    requests,
    chunkLog,
    count(path) {
      return path === undefined ? requests.length : requests.filter((r) => r.path === path).length;
    },
    countRoute(route) {
      return requests.filter((r) => routeOf(r.path) === route).length;
    },
    /** Which bearer tokens /secure accepts: a Set/array of tokens or a predicate. */
    acceptTokens(policy) {
      if (typeof policy === 'function') accepts = policy;
      else {
        const allowed = new Set(policy);
        accepts = (token) => allowed.has(token);
      }
    },
    /** The header /secure reads the bearer from. */
    setTokenHeader(name) {
      tokenHeader = name.toLowerCase();
    },
    /** Every distinct bearer token seen in any request header. */
    tokens() {
      const found = new Set();
      for (const r of requests) {
        for (const value of Object.values(r.headers)) {
          const match = /^bearer\s+(\S+)\s*$/i.exec(String(value));
          if (match) found.add(match[1]);
        }
      }
      return [...found];
    },
    reset() {
      requests.length = 0;
      chunkLog.length = 0;
    },
    close: closer(server, timers),
  };
}
