// A fixture server that behaves like InfoLink as its published OAuth 2.0 guide documents it
// (shared/seeds/003_*.txt), over plain http on 127.0.0.1:
//
//   POST /api/v1/oauth2/token   (application/x-www-form-urlencoded)
//     grant_type=client_credentials  client_id, client_secret
//     grant_type=password            client_id, client_secret, username, password
//     grant_type=refresh_token       refresh_token (client_id/client_secret optional)
//     -> 200 {"access_token","refresh_token","token_type":"Bearer","expires_in":N}
//        (exactly these keys in this order; opaque UUID tokens, not JWTs).
//     The guide shows client credentials in the body only; HTTP Basic (RFC 6749 §2.3.1,
//     form-urlencoded then Base64) is accepted too and recorded as authMethod 'basic'.
//     Refresh rotates: the refresh token presented is revoked at once and a new one issued.
//     An expired, revoked, rotated-away or unknown refresh token, or a wrong username or
//     password -> 400 {"error_description":"Credentials or token is invalid or expired",
//     "error":"invalid_grant"} (the guide's body, key order included).
//     Wrong or missing client credentials -> 401 invalid_client; other grant -> 400
//     unsupported_grant_type; missing parameter -> 400 invalid_request.
//
//   POST /api/v1/executeJob     (JSON body, Authorization: Bearer <access token>)
//     valid token -> 200 {"status":"ok","result":{"jobId",...,"request":<the JSON body>}}
//     expired, unknown or missing token -> expiredTokenStatus (default 401) with the guide's
//     non-standard body {"result":{"code":"invalid_grant","message":"Credentials or token
//     is invalid or expired"},"status":"error"}. The guide does not say which status it
//     uses, so it is configurable (any 4xx).
//
// Library use:
//   const server = await startInfoLinkServer({ accessTokenTtl: 1800, expiredTokenStatus: 401 });
//   server.tokenUrl, server.jobUrl, server.requests, server.log, server.close() ...
// CLI use:
//   node tests/support/infolink-server.mjs --port 0 [--access-token-ttl S]
//        [--refresh-token-ttl S] [--expired-token-status N]
//   prints one JSON line {"url","tokenUrl","jobUrl"} and runs until SIGTERM/SIGINT.
//
// Records: server.requests (one entry per token request, never a secret or token: refresh
// tokens appear as short ids 'rt-N'), server.jobs (one per executeJob request), counters,
// and server.log: the raw access log kept in memory only (method, path, Authorization
// header and the full body as received, tokens and secrets included) so that a test can
// check that, e.g., a rotated-away refresh token is never sent again.

import { randomUUID } from 'node:crypto';
import http from 'node:http';

import { answerPreflight, closer, listen, runCli, sleeper } from './loopback.mjs';

export const TOKEN_PATH = '/api/v1/oauth2/token';
export const JOB_PATH = '/api/v1/executeJob';
export const DEFAULT_ACCESS_TOKEN_TTL = 1800;
export const DEFAULT_REFRESH_TOKEN_TTL = 3600;
export const INVALID_MESSAGE = 'Credentials or token is invalid or expired';

/** The token endpoint's body for a bad refresh token or bad user credentials (as documented). */
export const INVALID_GRANT_BODY = Object.freeze({
  error_description: INVALID_MESSAGE,
  error: 'invalid_grant',
});

/** The API's body for an expired (or unknown, or missing) access token (as documented). */
export const EXPIRED_TOKEN_BODY = Object.freeze({
  result: Object.freeze({ code: 'invalid_grant', message: INVALID_MESSAGE }),
  status: 'error',
});

export const INFOLINK_CLIENT = Object.freeze({
  clientId: 'infolink-client-3f9c1a7e',
  clientSecret: 'infolink-client-secret-7Hq2',
});

export const INFOLINK_USER = Object.freeze({
  username: 'john@company.com',
  password: 'infolink-password-K9w4',
});

// A user whose name and password need form-urlencoding ('+', '&', '=', '%', space, ':').
export const INFOLINK_SPECIAL_USER = Object.freeze({
  username: 'jane+ops@company.com',
  password: 'infolink-p&ss=w0rd+ %Z:8',
});


async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function sendJson(res, status, value, headers = {}) {
  const text = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json;charset=UTF-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    pragma: 'no-cache',
    ...headers,
  });
  res.end(text);
}

function oauthError(error, description) {
  // Same key order as the guide's documented invalid_grant body.
  return { error_description: description, error };
}

function formDecode(value) {
  return decodeURIComponent(value.replace(/\+/g, ' '));
}

// RFC 6749 §2.3.1 Basic credentials: base64(formEncode(id) ":" formEncode(secret)).
// Returns { clientId, clientSecret } or undefined when the header is not usable.
function parseBasic(header) {
  const match = /^basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header);
  if (!match || match[1].length % 4 !== 0) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  try {
    return {
      clientId: formDecode(decoded.slice(0, colon)),
      clientSecret: formDecode(decoded.slice(colon + 1)),
    };
  } catch {
    return undefined;
  }
}

function parseBearer(header) {
  if (header === undefined) return undefined;
  const match = /^bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : undefined;
}

function checkTtl(seconds, what) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) {
    throw new TypeError(`${what} must be a number of seconds >= 0`);
  }
  return seconds;
}

function checkStatus(status) {
  if (!Number.isInteger(status) || status < 400 || status > 499) {
    throw new TypeError('expiredTokenStatus must be a 4xx status');
  }
  return status;
}

/**
 * Start the InfoLink fixture.
 * @param {{
 *   port?: number,
 *   accessTokenTtl?: number,   // seconds (fractions allowed); expires_in is it rounded
 *   refreshTokenTtl?: number,  // seconds (fractions allowed)
 *   clients?: {clientId: string, clientSecret: string}[],
 *   users?: {username: string, password: string}[],
 *   expiredTokenStatus?: number, // status of executeJob's "invalid or expired" answer
 * }} [options]
 */
export async function startInfoLinkServer(options = {}) {
  let accessTokenTtl = checkTtl(options.accessTokenTtl ?? DEFAULT_ACCESS_TOKEN_TTL, 'accessTokenTtl');
  let refreshTokenTtl = checkTtl(options.refreshTokenTtl ?? DEFAULT_REFRESH_TOKEN_TTL, 'refreshTokenTtl');
  let expiredTokenStatus = checkStatus(options.expiredTokenStatus ?? 401);
  let delayMs = 0;
  const clients = new Map((options.clients ?? [INFOLINK_CLIENT]).map((c) => [c.clientId, c.clientSecret]));
  const users = new Map((options.users ?? [INFOLINK_USER, INFOLINK_SPECIAL_USER]).map((u) => [u.username, u.password]));

  // token string -> record. Records keep everything the server needs; none is exposed.
  const accessTokens = new Map(); // { id, clientId, username, grantType, expiresAt }
  const refreshTokens = new Map(); // { id, clientId, username, grantType, expiresAt, state }
  let accessSeq = 0;
  let refreshSeq = 0;
  let jobSeq = 0;

  const counts = { tokenRequests: 0, jobRequests: 0, expiredJobRequests: 0 };
  const requests = [];
  const jobs = [];
  const log = [];
  const serverErrors = [];
  const pendingTimers = new Set();

  const wait = sleeper(pendingTimers);

  function issueTokens({ clientId, username, grantType }) {
    const now = Date.now();
    const access = randomUUID();
    const refresh = randomUUID();
    accessSeq += 1;
    refreshSeq += 1;
    const accessRecord = {
      id: `at-${accessSeq}`, clientId, username, grantType, expiresAt: now + accessTokenTtl * 1000,
    };
    const refreshRecord = {
      id: `rt-${refreshSeq}`, clientId, username, grantType, expiresAt: now + refreshTokenTtl * 1000, state: 'active',
    };
    accessTokens.set(access, accessRecord);
    refreshTokens.set(refresh, refreshRecord);
    return {
      body: {
        access_token: access,
        refresh_token: refresh,
        token_type: 'Bearer',
        expires_in: Math.round(accessTokenTtl),
      },
      accessTokenId: accessRecord.id,
      refreshTokenId: refreshRecord.id,
    };
  }

  async function handleToken(req, res, rawBody) {
    const entry = { grantType: undefined, clientId: undefined, authMethod: 'none' };
    requests.push(entry);
    const reply = (status, body) => {
      entry.status = status;
      sendJson(res, status, body);
    };

    if (delayMs > 0) await wait(delayMs);
    if (res.destroyed || req.socket.destroyed) return;

    const contentType = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    const form = new URLSearchParams(rawBody);
    const grantType = form.get('grant_type') ?? undefined;
    entry.grantType = grantType;

    const authorization = req.headers.authorization;
    const basic = authorization !== undefined ? parseBasic(authorization) : undefined;
    const bodyHasSecret = form.has('client_secret');
    if (authorization !== undefined && bodyHasSecret) entry.authMethod = 'basic+post';
    else if (authorization !== undefined) entry.authMethod = 'basic';
    else if (bodyHasSecret) entry.authMethod = 'post';
    entry.clientId = basic?.clientId ?? form.get('client_id') ?? undefined;
    if (grantType === 'password') entry.username = form.get('username') ?? undefined;

    if (contentType !== 'application/x-www-form-urlencoded') {
      return reply(400, oauthError('invalid_request', 'Content-Type must be application/x-www-form-urlencoded'));
    }
    if (grantType === undefined) {
      return reply(400, oauthError('invalid_request', 'Missing grant_type'));
    }
    if (!['client_credentials', 'password', 'refresh_token'].includes(grantType)) {
      return reply(400, oauthError('unsupported_grant_type', `Unsupported grant type: ${grantType}`));
    }
    if (entry.authMethod === 'basic+post') {
      return reply(400, oauthError('invalid_request', 'More than one client authentication method was used'));
    }

    // Client authentication: required for client_credentials and password; optional for
    // refresh_token (the guide's refresh request carries only the refresh token).
    const invalidClient = () => {
      entry.status = 401;
      sendJson(res, 401, oauthError('invalid_client', 'Bad client credentials'),
        authorization !== undefined ? { 'www-authenticate': 'Basic realm="InfoLink"' } : {});
    };
    let client;
    if (authorization !== undefined) {
      if (!basic) return invalidClient();
      client = basic;
    } else if (bodyHasSecret) {
      client = { clientId: form.get('client_id') ?? undefined, clientSecret: form.get('client_secret') };
    }
    if (client !== undefined) {
      if (client.clientId === undefined || clients.get(client.clientId) !== client.clientSecret) {
        return invalidClient();
      }
    } else if (grantType !== 'refresh_token') {
      return invalidClient();
    } else if (form.has('client_id') && !clients.has(form.get('client_id'))) {
      return invalidClient();
    }
    const clientId = client?.clientId ?? form.get('client_id') ?? undefined;

    if (grantType === 'client_credentials') {
      const issued = issueTokens({ clientId, username: undefined, grantType });
      Object.assign(entry, { accessTokenId: issued.accessTokenId, issuedRefreshTokenId: issued.refreshTokenId });
      return reply(200, issued.body);
    }

    if (grantType === 'password') {
      const username = form.get('username');
      const password = form.get('password');
      if (username === null || password === null) {
        return reply(400, oauthError('invalid_request', 'Missing username or password'));
      }
      if (!users.has(username) || users.get(username) !== password) {
        return reply(400, { ...INVALID_GRANT_BODY });
      }
      const issued = issueTokens({ clientId, username, grantType });
      Object.assign(entry, { accessTokenId: issued.accessTokenId, issuedRefreshTokenId: issued.refreshTokenId });
      return reply(200, issued.body);
    }

    // refresh_token
    const presented = form.get('refresh_token');
    if (presented === null || presented === '') {
      return reply(400, oauthError('invalid_request', 'Missing refresh_token'));
    }
    const record = refreshTokens.get(presented);
    entry.refreshTokenId = record?.id ?? 'unknown';
    entry.reusedRefreshToken = record?.state === 'rotated';
    if (!record || record.state !== 'active' || record.expiresAt <= Date.now()
        || (clientId !== undefined && clientId !== record.clientId)) {
      return reply(400, { ...INVALID_GRANT_BODY });
    }
    record.state = 'rotated';
    if (entry.clientId === undefined) entry.clientId = record.clientId;
    if (record.username !== undefined) entry.username = record.username;
    const issued = issueTokens({ clientId: record.clientId, username: record.username, grantType: record.grantType });
    Object.assign(entry, { accessTokenId: issued.accessTokenId, issuedRefreshTokenId: issued.refreshTokenId });
    return reply(200, issued.body);
  }

  function handleJob(req, res, rawBody) {
    counts.jobRequests += 1;
    const token = parseBearer(req.headers.authorization);
    const record = token !== undefined ? accessTokens.get(token) : undefined;
    const job = {};
    jobs.push(job);
    if (!record || record.expiresAt <= Date.now()) {
      counts.expiredJobRequests += 1;
      job.outcome = token === undefined ? 'missing' : record ? 'expired' : 'unknown';
      if (record) job.accessTokenId = record.id;
      job.status = expiredTokenStatus;
      return sendJson(res, expiredTokenStatus, EXPIRED_TOKEN_BODY);
    }
    job.accessTokenId = record.id;
    let parsed;
    try {
      parsed = rawBody === '' ? null : JSON.parse(rawBody);
    } catch {
      job.outcome = 'bad_request';
      job.status = 400;
      return sendJson(res, 400, { result: { code: 'invalid_request', message: 'Request body is not valid JSON' }, status: 'error' });
    }
    jobSeq += 1;
    job.outcome = 'ok';
    job.status = 200;
    return sendJson(res, 200, {
      status: 'ok',
      result: {
        jobId: jobSeq,
        clientId: record.clientId,
        ...(record.username !== undefined ? { username: record.username } : {}),
        request: parsed,
      },
    });
  }

  const server = http.createServer((req, res) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    if (req.method === 'OPTIONS') {
      req.resume();
      answerPreflight(res, 'POST');
      return;
    }
    const path = new URL(req.url, 'http://127.0.0.1').pathname;
    (async () => {
      const rawBody = await readBody(req);
      log.push(`${req.method} ${req.url} authorization=${req.headers.authorization ?? '-'} body=${rawBody}`);
      if (path === TOKEN_PATH || path === JOB_PATH) {
        if (req.method !== 'POST') {
          return sendJson(res, 405, { error_description: 'Method not allowed', error: 'invalid_request' }, { allow: 'POST' });
        }
        if (path === TOKEN_PATH) {
          counts.tokenRequests += 1;
          return handleToken(req, res, rawBody);
        }
        return handleJob(req, res, rawBody);
      }
      return sendJson(res, 404, { status: 'error', result: { code: 'not_found', message: 'Not found' } });
    })().catch((err) => {
      serverErrors.push(err);
      if (!res.headersSent) sendJson(res, 500, { error_description: 'fixture failure', error: 'server_error' });
      else res.destroy();
    });
  });

  const { url, port } = await listen(server, options.port ?? 0);
  const expireAll = (map) => {
    const past = Date.now() - 1;
    for (const record of map.values()) record.expiresAt = Math.min(record.expiresAt, past);
  };

  return {
    url,
    port,
    tokenUrl: `${url}${TOKEN_PATH}`,
    jobUrl: `${url}${JOB_PATH}`,
    requests,
    jobs,
    log,
    serverErrors,
    get tokenRequests() { return counts.tokenRequests; },
    get jobRequests() { return counts.jobRequests; },
    get expiredJobRequests() { return counts.expiredJobRequests; },
    get accessTokenTtl() { return accessTokenTtl; },
    get refreshTokenTtl() { return refreshTokenTtl; },
    get expiredTokenStatus() { return expiredTokenStatus; },
    /** TTL (seconds) of access tokens issued from now on. */
    setAccessTokenTtl(seconds) { accessTokenTtl = checkTtl(seconds, 'accessTokenTtl'); },
    /** TTL (seconds) of refresh tokens issued from now on. */
    setRefreshTokenTtl(seconds) { refreshTokenTtl = checkTtl(seconds, 'refreshTokenTtl'); },
    setExpiredTokenStatus(status) { expiredTokenStatus = checkStatus(status); },
    /** Delay every token endpoint answer by `ms` (for concurrency tests). */
    setDelay(ms) {
      if (!(ms >= 0)) throw new TypeError('delay must be >= 0 ms');
      delayMs = ms;
    },
    /** Every access token issued so far is expired from now on. */
    expireAllAccessTokens() { expireAll(accessTokens); },
    /** Every refresh token issued so far is expired from now on. */
    expireAllRefreshTokens() { expireAll(refreshTokens); },
    /** Every refresh token still active is revoked (refused with invalid_grant). */
    revokeRefreshTokens() {
      for (const record of refreshTokens.values()) if (record.state === 'active') record.state = 'revoked';
    },
    /** The short id ('at-N') of an access token string, or undefined. */
    accessTokenId(token) { return accessTokens.get(token)?.id; },
    /** The short id ('rt-N') of a refresh token string, or undefined. */
    refreshTokenId(token) { return refreshTokens.get(token)?.id; },
    resetCounts() {
      counts.tokenRequests = 0;
      counts.jobRequests = 0;
      counts.expiredJobRequests = 0;
      requests.length = 0;
      jobs.length = 0;
      log.length = 0;
    },
    close: closer(server, pendingTimers),
  };
}

// ---------------------------------------------------------------------------------------
// CLI mode
const num = (v) => (v === undefined ? undefined : Number(v));
await runCli(import.meta.url, {
  name: 'infolink-server',
  options: {
    'access-token-ttl': { type: 'string' },
    'refresh-token-ttl': { type: 'string' },
    'expired-token-status': { type: 'string' },
  },
  async start({ port, values }) {
    try {
      return await startInfoLinkServer({
        port,
        accessTokenTtl: num(values['access-token-ttl']),
        refreshTokenTtl: num(values['refresh-token-ttl']),
        expiredTokenStatus: num(values['expired-token-status']),
      });
    } catch (err) {
      console.error(`infolink-server: ${err.message}`);
      process.exit(2);
    }
  },
  describe: (server) => ({ url: server.url, tokenUrl: server.tokenUrl, jobUrl: server.jobUrl }),
});
