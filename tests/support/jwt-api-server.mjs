// A protected API on http://127.0.0.1:PORT that accepts only valid JWT access tokens from the
// authorization server (tests/support/auth-server.mjs, oidc-provider): it verifies the
// signature against the issuer's jwks_uri (jose createRemoteJWKSet), `iss` and `exp` (and
// `aud` when given), and keeps a deny-list of revoked tokens (by `jti`).
//
//   const api = await startJwtApiServer({ issuer: auth.issuer, jwksUrl: auth.jwksUrl });
//   api.url                   // any path answers, see below
//   api.revoke(token)         // from now on this token is refused (401 invalid_token)
//   api.setClockSkew(seconds) // the API's clock runs this far ahead: tokens expire earlier
//   api.requests              // every request: method, path, headers, body (Buffer), outcome
//
// Routes (every one requires a valid token unless noted):
//   any method /echo/...       -> 200 {"ok":true,"clientId","jti","method","path"}
//   GET /same-redirect?status=N&to=/path  -> N (default 302) Location: to   (no token needed;
//                                            the request is recorded with its headers)
//   GET /cross-redirect?status=N&to=URL   -> the same, for an absolute URL
// A missing, malformed, badly signed, expired, wrongly issued or revoked token gets 401 with
// `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3.1) and a JSON body
// {"error":"invalid_token","error_description":...}.
// The token is read from `headerName` (default Authorization), scheme Bearer (any case).

import http from 'node:http';

import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';

import { closer, listen, requestHandler } from './loopback.mjs';

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function sendJson(res, status, value, headers = {}) {
  const text = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/**
 * @param {{ issuer: string, jwksUrl: string, audience?: string, headerName?: string, port?: number }} options
 */
export async function startJwtApiServer(options) {
  const { issuer, jwksUrl, audience } = options;
  if (typeof issuer !== 'string' || typeof jwksUrl !== 'string') {
    throw new TypeError('startJwtApiServer needs issuer and jwksUrl');
  }
  const headerName = (options.headerName ?? 'authorization').toLowerCase();
  const jwks = createRemoteJWKSet(new URL(jwksUrl));
  const denied = new Set(); // jti
  const requests = [];
  let skewMs = 0;

  async function authenticate(req) {
    const value = req.headers[headerName];
    if (value === undefined) return { ok: false, reason: 'missing token' };
    const match = /^bearer\s+(\S+)\s*$/i.exec(value);
    if (!match) return { ok: false, reason: 'not a Bearer token' };
    try {
      const { payload } = await jwtVerify(match[1], jwks, {
        issuer,
        ...(audience !== undefined ? { audience } : {}),
        currentDate: new Date(Date.now() + skewMs),
        requiredClaims: ['exp', 'iat', 'jti'],
      });
      if (denied.has(payload.jti)) return { ok: false, reason: 'token revoked', jti: payload.jti };
      return { ok: true, payload };
    } catch (err) {
      return { ok: false, reason: `${err.code ?? 'error'}: ${err.message}` };
    }
  }

  async function handle(req, res) {
    const url = new URL(req.url, 'http://127.0.0.1');
    const body = await readBody(req);
    const entry = {
      method: req.method,
      path: url.pathname,
      headers: { ...req.headers },
      body,
    };
    requests.push(entry);

    if (url.pathname === '/same-redirect' || url.pathname === '/cross-redirect') {
      const status = Number(url.searchParams.get('status') ?? 302);
      entry.status = status;
      res.writeHead(status, { location: url.searchParams.get('to'), 'content-length': '0' });
      return res.end();
    }

    const auth = await authenticate(req);
    entry.outcome = auth.ok ? 'ok' : auth.reason;
    entry.jti = auth.ok ? auth.payload.jti : auth.jti;
    if (!auth.ok) {
      entry.status = 401;
      return sendJson(res, 401, { error: 'invalid_token', error_description: auth.reason }, {
        'www-authenticate': `Bearer error="invalid_token", error_description="${auth.reason.replace(/["\\]/g, '')}"`,
      });
    }
    if (url.pathname.startsWith('/echo')) {
      entry.status = 200;
      return sendJson(res, 200, {
        ok: true,
        clientId: auth.payload.client_id,
        jti: auth.payload.jti,
        method: req.method,
        path: url.pathname,
      });
    }
    entry.status = 404;
    return sendJson(res, 404, { error: 'not_found' });
  }

  const server = http.createServer(requestHandler(handle, (res, err) => sendJson(res, 500, { error: 'server_error', error_description: String(err) })));
  const { url, port } = await listen(server, options.port ?? 0);

  return {
    url,
    port,
    requests,
    /** Refuse this token from now on (deny-list by jti). */
    revoke(token) {
      const { jti } = decodeJwt(token);
      if (typeof jti !== 'string') throw new TypeError('token has no jti');
      denied.add(jti);
    },
    /** The API's clock runs `seconds` ahead of the real one (tokens look older). */
    setClockSkew(seconds) {
      skewMs = seconds * 1000;
    },
    requestsFor(path) {
      return requests.filter((r) => r.path === path);
    },
    close: closer(server),
  };
}
