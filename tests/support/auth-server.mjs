// A real OAuth 2.0 authorization server (oidc-provider) for the end-to-end tests, on
// http://127.0.0.1:PORT, behind a small node:http front server that adds what the tests
// need and oidc-provider does not do by itself:
//   - CORS on every response (browser tests fetch it from another origin);
//   - a STRICT client authentication check on the token endpoint (oidc-provider accepts
//     client_secret_basic and client_secret_post for every client; this check answers
//     401 invalid_client when a client uses a method other than the one registered);
//   - request counters, a record of token requests (never secrets) and a delay switch.
//
// Options (all optional, none changes the defaults):
//   port, tokenPath;
//   basicEncoding: 'rfc6749' (default) or 'raw'. How the front decodes client_secret_basic
//     credentials: 'rfc6749' form-urldecodes id and secret (RFC 6749 §2.3.1); 'raw' takes
//     them as they are after Base64 (id up to the first ':', the rest is the secret), as
//     many servers do, so RFC-encoded credentials of a secret with ':', '%' or '+' no longer
//     match; the front then hands oidc-provider the credentials RFC-encoded, as it needs.
//   extraClients: [{ clientId, clientSecret, authMethod }] more client_credentials clients
//     (client_secret_basic or client_secret_post), registered and checked like CLIENTS.
//   accessTokenTtl (s, default 300), refreshTokenTtl (s, default 86400);
//   Device Authorization Grant (RFC 8628), see "Device flow" below:
//     deviceCodeTtl (s, default 600): expires_in of the device authorization response; a
//       poll after it answers expired_token;
//     deviceInterval (s, default 1; null leaves `interval` out of the response, so RFC 8628
//       clients fall back to 5 s): oidc-provider sends no `interval`, the front adds it;
//     enforceInterval (default false): answer slow_down to a device_code poll that arrives
//       less than its interval (minus intervalToleranceMs, default 50) after the previous
//       poll of the same device_code, and add 5 s to that code's interval, as RFC 8628
//       §3.5 describes;
//     issueRefreshToken: 'always' (default: every device grant to a client with the
//       refresh_token grant), 'offline_access' (oidc-provider's default: only when that
//       scope was granted) or 'never';
//     rotateRefreshTokens (default true): every refresh rotates the refresh token, and a
//       rotated one presented again revokes the whole grant (all its refresh tokens).
//
// Device flow (clients CLIENTS.device, public; CLIENTS.deviceBasic and CLIENTS.devicePost,
// confidential). The test plays the user with approveDeviceCode(userCode) and
// denyDeviceCode(userCode); deviceAuthorization(n) gives the n-th device authorization
// response (user_code included) the server sent; slowDown(n) answers the next n device_code
// polls with slow_down; devicePolls records every device_code poll with its arrival time.
//
// Library use:   const server = await startAuthServer({ port: 0, tokenPath: '/token' });
// CLI use:       node tests/support/auth-server.mjs --port 9999 [--token-path P]
//                prints one JSON line {"issuer","tokenUrl",...} and runs until SIGTERM/SIGINT.

import { generateKeyPair, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { PassThrough } from 'node:stream';

import { answerPreflight, closer, listen, runCli, sleeper } from './loopback.mjs';

// oidc-provider prints "Unsupported runtime. Use Node.js v22.x LTS" when imported on
// Node 20 (it works there). Hide exactly that one line while importing it; every other
// console output passes through untouched.
const Provider = await (async () => {
  const originalWarn = console.warn;
  console.warn = (...args) => {
    if (typeof args[0] === 'string' && args[0].includes('oidc-provider WARNING: Unsupported runtime')) {
      return;
    }
    originalWarn.apply(console, args);
  };
  try {
    return (await import('oidc-provider')).default;
  } finally {
    console.warn = originalWarn;
  }
})();

export const DEFAULT_RESOURCE = 'urn:edge-oauth:api';
export const API_SCOPES = 'api:read api:write';
export const DEFAULT_ACCESS_TOKEN_TTL = 300;
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

export const CLIENTS = Object.freeze({
  basic: Object.freeze({
    clientId: 'basic-client',
    clientSecret: 'basic-secret-Zq81',
    authMethod: 'client_secret_basic',
  }),
  post: Object.freeze({
    clientId: 'post-client',
    clientSecret: 'post-secret-Xk27',
    authMethod: 'client_secret_post',
  }),
  // Client id and secret full of characters that RFC 6749 §2.3.1 requires to be
  // form-urlencoded before Base64 (':' '+' '%' '&' '=' '/' '?' space). A client that puts
  // them into the Basic header raw is refused.
  special: Object.freeze({
    clientId: 'special:client+id',
    clientSecret: 'p@ss:w0rd+/=%&? ~x',
    authMethod: 'client_secret_basic',
  }),
  // Public client for the device authorization grant (and refresh tokens from it).
  device: Object.freeze({
    clientId: 'device-client',
    clientSecret: undefined,
    authMethod: 'none',
  }),
  // Confidential clients for the device authorization grant, one per authentication method.
  deviceBasic: Object.freeze({
    clientId: 'device-basic-client',
    clientSecret: 'device-basic-secret-Hw42',
    authMethod: 'client_secret_basic',
  }),
  devicePost: Object.freeze({
    clientId: 'device-post-client',
    clientSecret: 'device-post-secret-Jr93',
    authMethod: 'client_secret_post',
  }),
});

export const DEFAULT_REFRESH_TOKEN_TTL = 86400;
export const DEFAULT_DEVICE_CODE_TTL = 600;
export const DEFAULT_DEVICE_INTERVAL = 1;
export const DEVICE_AUTHORIZATION_PATH = '/device/auth';
const REFRESH_TOKEN_MODES = ['always', 'offline_access', 'never'];
// An expired device code stays stored this long, so that a poll gets expired_token rather
// than invalid_grant "device code not found".
const EXPIRED_DEVICE_CODE_KEPT_MS = 10 * 60 * 1000;


function clientMetadata(extraClients = []) {
  return [
    ...extraClients.map((c) => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      token_endpoint_auth_method: c.authMethod,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: API_SCOPES,
    })),
    {
      client_id: CLIENTS.basic.clientId,
      client_secret: CLIENTS.basic.clientSecret,
      token_endpoint_auth_method: CLIENTS.basic.authMethod,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: API_SCOPES,
    },
    {
      client_id: CLIENTS.post.clientId,
      client_secret: CLIENTS.post.clientSecret,
      token_endpoint_auth_method: CLIENTS.post.authMethod,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: API_SCOPES,
    },
    {
      client_id: CLIENTS.special.clientId,
      client_secret: CLIENTS.special.clientSecret,
      token_endpoint_auth_method: CLIENTS.special.authMethod,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: API_SCOPES,
    },
    {
      client_id: CLIENTS.device.clientId,
      token_endpoint_auth_method: 'none',
      grant_types: [DEVICE_CODE_GRANT, 'refresh_token'],
      response_types: [],
      redirect_uris: [],
      scope: `openid offline_access ${API_SCOPES}`,
    },
    ...[CLIENTS.deviceBasic, CLIENTS.devicePost].map((c) => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      token_endpoint_auth_method: c.authMethod,
      grant_types: [DEVICE_CODE_GRANT, 'refresh_token'],
      response_types: [],
      redirect_uris: [],
      scope: `openid offline_access ${API_SCOPES}`,
    })),
  ];
}

const REGISTERED_AUTH_METHOD = new Map(
  Object.values(CLIENTS).map((c) => [c.clientId, c.authMethod]),
);

// One RSA signing key per process (generating one takes ~50-150 ms).
let signingJwksPromise;
function signingJwks() {
  signingJwksPromise ??= new Promise((resolve, reject) => {
    generateKeyPair('rsa', { modulusLength: 2048 }, (err, _publicKey, privateKey) => {
      if (err) return reject(err);
      const jwk = privateKey.export({ format: 'jwk' });
      return resolve({ keys: [{ ...jwk, kid: 'edge-oauth-test-rs256', use: 'sig', alg: 'RS256' }] });
    });
  });
  return signingJwksPromise;
}

// Per-provider in-memory storage (oidc-provider's own one is a process-wide singleton and
// prints a "development-only" warning).
function createMemoryAdapter() {
  const records = new Map(); // `${model}:${id}` -> { payload, expiresAt }
  const now = () => Date.now();
  const live = (key) => {
    const rec = records.get(key);
    if (!rec) return undefined;
    if (rec.expiresAt !== undefined && rec.expiresAt <= now()) {
      records.delete(key);
      return undefined;
    }
    return rec;
  };

  return class MemoryAdapter {
    constructor(model) {
      this.model = model;
    }

    key(id) {
      return `${this.model}:${id}`;
    }

    async upsert(id, payload, expiresIn) {
      const kept = this.model === 'DeviceCode' ? EXPIRED_DEVICE_CODE_KEPT_MS : 0;
      records.set(this.key(id), {
        payload: structuredClone(payload),
        expiresAt: typeof expiresIn === 'number' ? now() + expiresIn * 1000 + kept : undefined,
      });
    }

    async find(id) {
      const rec = live(this.key(id));
      return rec ? structuredClone(rec.payload) : undefined;
    }

    async findByUid(uid) {
      for (const [key, rec] of records) {
        if (key.startsWith(`${this.model}:`) && rec.payload.uid === uid && live(key)) {
          return structuredClone(rec.payload);
        }
      }
      return undefined;
    }

    async findByUserCode(userCode) {
      for (const [key, rec] of records) {
        if (key.startsWith(`${this.model}:`) && rec.payload.userCode === userCode && live(key)) {
          return structuredClone(rec.payload);
        }
      }
      return undefined;
    }

    async consume(id) {
      const rec = live(this.key(id));
      if (rec) rec.payload.consumed = Math.floor(now() / 1000);
    }

    async destroy(id) {
      records.delete(this.key(id));
    }

    async revokeByGrantId(grantId) {
      for (const [key, rec] of records) {
        if (rec.payload.grantId === grantId) records.delete(key);
      }
    }
  };
}

function htmlPage(ctx, title, body) {
  ctx.type = 'html';
  ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>`;
}

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// application/x-www-form-urlencoded decoding of one component ('+' is a space).
function formDecode(value) {
  return decodeURIComponent(value.replace(/\+/g, ' '));
}

// Basic credentials: base64(id ":" secret), each part form-urlencoded first as RFC 6749
// §2.3.1 says, or, with `raw`, as they are (what many servers read).
// Returns { clientId, clientSecret } or { malformed: reason }.
function decodeBasic(header, { raw = false } = {}) {
  const match = /^basic\s+(\S*)\s*$/i.exec(header);
  if (!match) return { malformed: 'Authorization header is not Basic' };
  const b64 = match[1];
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0 || b64.length === 0) {
    return { malformed: 'Basic credentials are not valid base64' };
  }
  const decoded = Buffer.from(b64, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return { malformed: 'Basic credentials have no ":" separator' };
  const [id, secret] = [decoded.slice(0, colon), decoded.slice(colon + 1)];
  if (raw) return { clientId: id, clientSecret: secret };
  try {
    return { clientId: formDecode(id), clientSecret: formDecode(secret) };
  } catch {
    return { malformed: 'Basic credentials are not correctly form-urlencoded' };
  }
}

// The RFC 6749 §2.3.1 form of Basic credentials, which oidc-provider decodes.
function encodeBasicRfc6749(clientId, clientSecret) {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
}

function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Token and device requests are small: larger bodies (this is also `npm run www`'s sandbox) are cut off. */
const MAX_REQUEST_BYTES = 64 * 1024;

/** The body, or undefined past MAX_REQUEST_BYTES. */
async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_REQUEST_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

// A stand-in for an IncomingMessage whose body has already been read: oidc-provider reads
// the body stream itself, so hand it a fresh stream carrying the same bytes.
function replayRequest(req, body) {
  const replay = new PassThrough();
  replay.end(body);
  Object.assign(replay, {
    method: req.method,
    url: req.url,
    headers: req.headers,
    rawHeaders: req.rawHeaders,
    httpVersion: req.httpVersion,
    httpVersionMajor: req.httpVersionMajor,
    httpVersionMinor: req.httpVersionMinor,
    socket: req.socket,
    connection: req.socket,
    complete: true,
  });
  return replay;
}

function addCors(res) {
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Expose-Headers', '*');
  // Koa strips every header when it handles an unexpected error itself; put CORS back.
  const writeHead = res.writeHead;
  res.writeHead = function writeHeadWithCors(...args) {
    if (!this.headersSent && !this.hasHeader('Access-Control-Allow-Origin')) {
      this.setHeader('Access-Control-Allow-Origin', '*');
    }
    return writeHead.apply(this, args);
  };
}


/**
 * Start oidc-provider behind the strict front server.
 * @param {{port?: number, tokenPath?: string}} [options]
 */
export async function startAuthServer(options = {}) {
  const tokenPath = options.tokenPath ?? '/token';
  if (!tokenPath.startsWith('/')) throw new TypeError('tokenPath must start with "/"');
  const basicEncoding = options.basicEncoding ?? 'rfc6749';
  if (basicEncoding !== 'rfc6749' && basicEncoding !== 'raw') {
    throw new TypeError("basicEncoding must be 'rfc6749' or 'raw'");
  }
  const extraClients = options.extraClients ?? [];
  for (const c of extraClients) {
    if (!c || typeof c.clientId !== 'string' || typeof c.clientSecret !== 'string'
        || !['client_secret_basic', 'client_secret_post'].includes(c.authMethod)) {
      throw new TypeError('extraClients entries need clientId, clientSecret and authMethod client_secret_basic or client_secret_post');
    }
  }
  const registeredAuthMethod = new Map([
    ...REGISTERED_AUTH_METHOD,
    ...extraClients.map((c) => [c.clientId, c.authMethod]),
  ]);

  const positiveInteger = (name, value) => {
    if (!Number.isInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer of seconds`);
    return value;
  };
  const intervalValue = (value) => {
    if (value !== null) positiveInteger('deviceInterval', value);
    return value;
  };
  const refreshMode = (value) => {
    if (!REFRESH_TOKEN_MODES.includes(value)) throw new TypeError(`issueRefreshToken must be one of ${REFRESH_TOKEN_MODES.join(', ')}`);
    return value;
  };
  let accessTokenTtl = positiveInteger('accessTokenTtl', options.accessTokenTtl ?? DEFAULT_ACCESS_TOKEN_TTL);
  let refreshTokenTtl = positiveInteger('refreshTokenTtl', options.refreshTokenTtl ?? DEFAULT_REFRESH_TOKEN_TTL);
  let deviceCodeTtl = positiveInteger('deviceCodeTtl', options.deviceCodeTtl ?? DEFAULT_DEVICE_CODE_TTL);
  let deviceInterval = intervalValue(options.deviceInterval === undefined ? DEFAULT_DEVICE_INTERVAL : options.deviceInterval);
  let enforceInterval = Boolean(options.enforceInterval);
  const intervalToleranceMs = options.intervalToleranceMs ?? 50;
  let issueRefreshTokenMode = refreshMode(options.issueRefreshToken ?? 'always');
  let rotateRefreshTokens = options.rotateRefreshTokens ?? true;
  let slowDownRemaining = 0;
  let delayMs = 0;
  const counts = { tokenRequests: 0, discoveryRequests: 0, deviceAuthorizationRequests: 0 };
  const requests = [];
  // Device flow records: every device_code poll, every device authorization response, and
  // per device_code the enforced interval and the last poll (enforceInterval).
  const devicePolls = [];
  const deviceAuthorizations = [];
  const deviceAuthorizationWaiters = new Set();
  const pollState = new Map(); // device_code -> { lastAt, interval }
  const serverErrors = [];
  const pendingTimers = new Set();

  const front = http.createServer();
  const { url: issuer, port } = await listen(front, options.port ?? 0);

  const provider = new Provider(issuer, {
    adapter: createMemoryAdapter(),
    jwks: await signingJwks(),
    clients: clientMetadata(extraClients),
    scopes: ['openid', 'offline_access', 'api:read', 'api:write'],
    routes: { token: tokenPath },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    // The front server already answers CORS for every origin.
    clientBasedCORS: () => true,
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
    issueRefreshToken: async (_ctx, client, code) => {
      if (!client.grantTypeAllowed('refresh_token')) return false;
      if (issueRefreshTokenMode === 'always') return true;
      return issueRefreshTokenMode === 'offline_access' && code.scopes.has('offline_access');
    },
    // oidc-provider's default rotates on every use only for public clients (confidential
    // ones after 70% of the refresh token's lifetime).
    rotateRefreshToken: () => rotateRefreshTokens,
    renderError: async (ctx, out) => {
      htmlPage(ctx, 'error', `<pre>${escapeHtml(JSON.stringify(out))}</pre>`);
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      revocation: { enabled: true, allowedPolicy: async () => true },
      deviceFlow: {
        enabled: true,
        userCodeInputSource: async (ctx, form) => htmlPage(ctx, 'device', form),
        userCodeConfirmSource: async (ctx, form) => htmlPage(ctx, 'device', form),
        successSource: async (ctx) => htmlPage(ctx, 'device', 'done'),
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf ?? DEFAULT_RESOURCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resource) => {
          if (resource !== DEFAULT_RESOURCE) {
            throw new Provider.errors.InvalidTarget(`unknown resource ${resource}`);
          }
          return {
            audience: DEFAULT_RESOURCE,
            scope: API_SCOPES,
            accessTokenFormat: 'jwt',
            accessTokenTTL: accessTokenTtl,
          };
        },
      },
    },
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? accessTokenTtl,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? accessTokenTtl,
      DeviceCode: () => deviceCodeTtl,
      Grant: 3600,
      IdToken: 3600,
      Interaction: 3600,
      RefreshToken: () => refreshTokenTtl,
      Session: 3600,
    },
  });
  provider.on('server_error', (_ctx, err) => {
    serverErrors.push(err);
    if (process.env.AUTH_SERVER_DEBUG) console.error('auth-server server_error:', err);
  });
  // The device authorization response gets `interval` (oidc-provider sends none) and is
  // recorded; every token response's `error` is copied into the front's request record.
  provider.use(async (ctx, next) => {
    await next();
    const entry = ctx.req.edgeOauthEntry;
    if (entry && ctx.body && typeof ctx.body === 'object' && typeof ctx.body.error === 'string') {
      entry.error = ctx.body.error;
    }
    if (ctx.method === 'POST' && ctx.path === DEVICE_AUTHORIZATION_PATH && ctx.status === 200
        && ctx.body && typeof ctx.body.device_code === 'string') {
      if (deviceInterval !== null) ctx.body.interval = deviceInterval;
      const record = {
        at: Date.now(),
        clientId: ctx.oidc?.client?.clientId,
        scope: ctx.oidc?.params?.scope ?? undefined,
        deviceCode: ctx.body.device_code,
        userCode: ctx.body.user_code,
        expiresIn: ctx.body.expires_in,
        interval: ctx.body.interval,
        response: { ...ctx.body },
      };
      deviceAuthorizations.push(record);
      for (const waiter of deviceAuthorizationWaiters) waiter();
    }
  });
  const providerCallback = provider.callback();

  const wait = sleeper(pendingTimers);
  const pollsOf = (deviceCode) => (deviceCode === undefined
    ? [...devicePolls] : devicePolls.filter((p) => p.deviceCode === deviceCode));

  async function handleTokenRequest(req, res) {
    const at = Date.now();
    const entry = { method: 'POST', path: new URL(req.url, issuer).pathname, at };
    requests.push(entry);
    const body = await readBody(req);
    if (body === undefined) {
      sendJson(res, 413, { error: 'invalid_request', error_description: 'request body too large' });
      return;
    }
    const form = new URLSearchParams(body.toString('utf8'));
    const authorization = req.headers.authorization;
    const basic = authorization === undefined ? undefined
      : decodeBasic(authorization, { raw: basicEncoding === 'raw' });
    const authMethod = authorization !== undefined ? 'basic' : form.has('client_secret') ? 'post' : 'none';
    Object.assign(entry, {
      grantType: form.get('grant_type') ?? undefined,
      clientId: basic?.clientId ?? form.get('client_id') ?? undefined,
      authMethod,
      scope: form.get('scope') ?? undefined,
    });
    if (entry.grantType === DEVICE_CODE_GRANT) {
      entry.deviceCode = form.get('device_code') ?? undefined;
      devicePolls.push(entry);
    }

    if (delayMs > 0) await wait(delayMs);
    if (res.destroyed || req.socket.destroyed) return;

    const invalidClient = (description) => {
      entry.status = 401;
      sendJson(res, 401, { error: 'invalid_client', error_description: description },
        authorization !== undefined ? { 'www-authenticate': `Basic realm="${issuer}", error="invalid_client"` } : {});
    };

    if (basic?.malformed) return invalidClient(basic.malformed);
    const registered = registeredAuthMethod.get(entry.clientId);
    if (registered === 'client_secret_basic' && form.has('client_secret')) {
      return invalidClient('client is registered for client_secret_basic, but client_secret was sent in the request body');
    }
    if (registered === 'client_secret_post' && authorization !== undefined) {
      return invalidClient('client is registered for client_secret_post, but an Authorization header was sent');
    }
    if (registered === 'none' && (authorization !== undefined || form.has('client_secret'))) {
      return invalidClient('client is registered for token_endpoint_auth_method none, but credentials were sent');
    }

    if (entry.grantType === DEVICE_CODE_GRANT) {
      const slowDown = (description) => {
        entry.status = 400;
        entry.error = 'slow_down';
        entry.slowDown = true;
        sendJson(res, 400, { error: 'slow_down', error_description: description });
      };
      let state;
      if (entry.deviceCode !== undefined) {
        state = pollState.get(entry.deviceCode);
        if (state === undefined) {
          const issued = deviceAuthorizations.find((d) => d.deviceCode === entry.deviceCode);
          state = { lastAt: undefined, interval: issued?.interval ?? 5 };
          pollState.set(entry.deviceCode, state);
        }
      }
      const previousAt = state?.lastAt;
      if (state) state.lastAt = at;
      if (slowDownRemaining > 0) {
        slowDownRemaining -= 1;
        if (state) state.interval += 5;
        return slowDown('injected by the test');
      }
      if (enforceInterval && state && previousAt !== undefined
          && at - previousAt < state.interval * 1000 - intervalToleranceMs) {
        const gap = at - previousAt;
        state.interval += 5;
        return slowDown(`polled ${gap} ms after the previous poll; the interval is now ${state.interval} s`);
      }
    }

    res.once('finish', () => { entry.status = res.statusCode; });
    if (basicEncoding === 'raw' && basic !== undefined) {
      // oidc-provider url-decodes Basic credentials: give it the raw ones in that form.
      const headers = { ...req.headers, authorization: encodeBasicRfc6749(basic.clientId, basic.clientSecret) };
      const rawHeaders = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const isAuth = req.rawHeaders[i].toLowerCase() === 'authorization';
        rawHeaders.push(req.rawHeaders[i], isAuth ? headers.authorization : req.rawHeaders[i + 1]);
      }
      const replay = replayRequest(req, body);
      Object.assign(replay, { headers, rawHeaders, edgeOauthEntry: entry });
      return providerCallback(replay, res);
    }
    return providerCallback(Object.assign(replayRequest(req, body), { edgeOauthEntry: entry }), res);
  }

  front.on('request', (req, res) => {
    const path = new URL(req.url, issuer).pathname;
    const isTokenPost = req.method === 'POST' && path === tokenPath;
    if (isTokenPost) counts.tokenRequests += 1;
    if (req.method === 'GET' && path === '/.well-known/openid-configuration') counts.discoveryRequests += 1;
    if (req.method === 'POST' && path === DEVICE_AUTHORIZATION_PATH) counts.deviceAuthorizationRequests += 1;

    addCors(res);
    if (req.method === 'OPTIONS') {
      req.resume();
      answerPreflight(res, 'GET, POST');
      return;
    }
    if (isTokenPost) {
      handleTokenRequest(req, res).catch((err) => {
        serverErrors.push(err);
        if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: 'front server failure' });
        else res.destroy();
      });
      return;
    }
    providerCallback(req, res);
  });

  return {
    url: issuer,
    issuer,
    port,
    tokenPath,
    basicEncoding,
    tokenUrl: `${issuer}${tokenPath}`,
    discoveryUrl: `${issuer}/.well-known/openid-configuration`,
    deviceAuthorizationUrl: `${issuer}${DEVICE_AUTHORIZATION_PATH}`,
    verificationUrl: `${issuer}/device`,
    revocationUrl: `${issuer}/token/revocation`,
    jwksUrl: `${issuer}/jwks`,
    provider,
    requests,
    serverErrors,
    devicePolls,
    deviceAuthorizations,
    get tokenRequests() { return counts.tokenRequests; },
    get discoveryRequests() { return counts.discoveryRequests; },
    get deviceAuthorizationRequests() { return counts.deviceAuthorizationRequests; },
    get accessTokenTtl() { return accessTokenTtl; },
    get refreshTokenTtl() { return refreshTokenTtl; },
    get deviceCodeTtl() { return deviceCodeTtl; },
    get deviceInterval() { return deviceInterval; },
    get enforceInterval() { return enforceInterval; },
    get issueRefreshToken() { return issueRefreshTokenMode; },
    get rotateRefreshTokens() { return rotateRefreshTokens; },
    get slowDownRemaining() { return slowDownRemaining; },
    get delayMs() { return delayMs; },
    /** Clears the counters, `requests`, `devicePolls` and `deviceAuthorizations`. */
    resetCounts() {
      counts.tokenRequests = 0;
      counts.discoveryRequests = 0;
      counts.deviceAuthorizationRequests = 0;
      requests.length = 0;
      devicePolls.length = 0;
      deviceAuthorizations.length = 0;
      pollState.clear();
    },
    setAccessTokenTtl(seconds) {
      accessTokenTtl = positiveInteger('TTL', seconds);
    },
    /** Refresh tokens issued from now on live this long. */
    setRefreshTokenTtl(seconds) {
      refreshTokenTtl = positiveInteger('refreshTokenTtl', seconds);
    },
    /** Device codes issued from now on expire after this long (expires_in). */
    setDeviceCodeTtl(seconds) {
      deviceCodeTtl = positiveInteger('deviceCodeTtl', seconds);
    },
    /** `interval` of device authorization responses from now on; null leaves it out. */
    setDeviceInterval(seconds) {
      deviceInterval = intervalValue(seconds);
    },
    setEnforceInterval(on) {
      enforceInterval = Boolean(on);
    },
    /** 'always' | 'offline_access' | 'never' (see the options at the top). */
    setIssueRefreshToken(mode) {
      issueRefreshTokenMode = refreshMode(mode);
    },
    setRotateRefreshTokens(on) {
      rotateRefreshTokens = Boolean(on);
    },
    /**
     * Answer the next `count` device_code polls (any device code, any client that passed
     * the front's client authentication check) with 400 {"error":"slow_down"}, without
     * passing them to oidc-provider. Replaces the count still pending.
     */
    slowDown(count = 1) {
      if (!Number.isInteger(count) || count < 0) throw new TypeError('slowDown count must be an integer >= 0');
      slowDownRemaining = count;
    },
    /**
     * The device_code polls (token requests with grant_type device_code), in arrival order;
     * the same objects as in `requests`: { at (Date.now() on arrival), deviceCode, clientId,
     * authMethod, status, error ('authorization_pending', 'slow_down', ...), slowDown
     * (true when the front answered slow_down itself) }.
     * @param {string} [deviceCode] only the polls of this device code
     */
    pollsOf,
    /** Milliseconds between consecutive polls (of `deviceCode`, or all). */
    pollGaps(deviceCode) {
      const polls = pollsOf(deviceCode);
      return polls.slice(1).map((p, i) => p.at - polls[i].at);
    },
    /**
     * The n-th (0-based, since start or resetCounts) device authorization the server
     * answered: { at, clientId, scope, deviceCode, userCode, expiresIn, interval, response }.
     * Waits for it up to timeoutMs (rejects after).
     */
    async deviceAuthorization(n = 0, { timeoutMs = 10_000 } = {}) {
      if (deviceAuthorizations[n]) return deviceAuthorizations[n];
      return new Promise((resolve, reject) => {
        const waiter = () => {
          if (!deviceAuthorizations[n]) return;
          clearTimeout(timer);
          deviceAuthorizationWaiters.delete(waiter);
          resolve(deviceAuthorizations[n]);
        };
        const timer = setTimeout(() => {
          deviceAuthorizationWaiters.delete(waiter);
          reject(new Error(`no device authorization #${n} within ${timeoutMs} ms (${deviceAuthorizations.length} so far)`));
        }, timeoutMs);
        deviceAuthorizationWaiters.add(waiter);
      });
    },
    setDelay(ms) {
      if (!(ms >= 0)) throw new TypeError('delay must be >= 0 ms');
      delayMs = ms;
    },
    /**
     * Approve a pending device authorization (what the user would do on /device).
     * @param {string} userCode as shown to the user (dashes and case are ignored)
     * @param {{accountId?: string, scope?: string}} [opts] scope defaults to the one requested
     * @returns {Promise<{grantId: string, accountId: string, scope: string}>}
     */
    async approveDeviceCode(userCode, { accountId = 'test-user', scope } = {}) {
      const normalized = userCode.toUpperCase().replace(/\W/g, '');
      const code = await provider.DeviceCode.findByUserCode(normalized);
      if (!code || code.isExpired) throw new Error(`no pending device code for user code ${userCode}`);
      if (code.accountId || code.error) throw new Error(`device code of user code ${userCode} was already approved or denied`);
      const requested = new Set((scope ?? code.params?.scope ?? API_SCOPES).split(' ').filter(Boolean));
      const apiScopes = API_SCOPES.split(' ').filter((s) => requested.has(s));
      const oidcScopes = ['openid', 'offline_access'].filter((s) => requested.has(s));
      const grant = new provider.Grant({ clientId: code.clientId, accountId });
      if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(' '));
      if (apiScopes.length) grant.addResourceScope(DEFAULT_RESOURCE, apiScopes.join(' '));
      const grantId = await grant.save();
      Object.assign(code, {
        accountId,
        grantId,
        authTime: Math.floor(Date.now() / 1000),
        scope: [...oidcScopes, ...apiScopes].join(' '),
        resource: DEFAULT_RESOURCE,
      });
      await code.save();
      return { grantId, accountId, scope: code.scope };
    },
    /** Deny a pending device authorization (the token endpoint then answers access_denied). */
    async denyDeviceCode(userCode, { errorDescription = 'End-User denied the request' } = {}) {
      const normalized = userCode.toUpperCase().replace(/\W/g, '');
      const code = await provider.DeviceCode.findByUserCode(normalized);
      if (!code || code.isExpired) throw new Error(`no pending device code for user code ${userCode}`);
      Object.assign(code, { error: 'access_denied', errorDescription });
      await code.save();
    },
    close: closer(front, pendingTimers),
  };
}

/** A server that accepts connections and reads requests but never answers. */
export async function startHangingServer() {
  const sockets = new Set();
  let connections = 0;
  const server = net.createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.resume(); // read and discard whatever arrives
  });
  const { url, port } = await listen(server, 0);
  let closed;
  return {
    url,
    port,
    get connections() { return connections; },
    async close() {
      closed ??= (async () => {
        const done = once(server, 'close');
        server.close();
        for (const socket of sockets) socket.destroy();
        await done;
      })();
      return closed;
    },
  };
}

/** A URL on 127.0.0.1 whose port nothing listens on (connections are refused). */
export async function closedPortUrl() {
  const server = net.createServer();
  const { url } = await listen(server, 0);
  await new Promise((resolve) => server.close(resolve));
  return url;
}

// ---------------------------------------------------------------------------------------
// CLI mode
await runCli(import.meta.url, {
  name: 'auth-server',
  options: { 'token-path': { type: 'string' } },
  start: ({ port, values }) => startAuthServer({ port, tokenPath: values['token-path'] }),
  describe: (server) => ({
    issuer: server.issuer,
    tokenUrl: server.tokenUrl,
    url: server.url,
    discoveryUrl: server.discoveryUrl,
    deviceAuthorizationUrl: server.deviceAuthorizationUrl,
  }),
});
