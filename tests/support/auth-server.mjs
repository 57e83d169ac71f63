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
});


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
      records.set(this.key(id), {
        payload: structuredClone(payload),
        expiresAt: typeof expiresIn === 'number' ? now() + expiresIn * 1000 : undefined,
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

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
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

  let accessTokenTtl = DEFAULT_ACCESS_TOKEN_TTL;
  let delayMs = 0;
  const counts = { tokenRequests: 0, discoveryRequests: 0 };
  const requests = [];
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
      DeviceCode: 600,
      Grant: 3600,
      IdToken: 3600,
      Interaction: 3600,
      RefreshToken: 86400,
      Session: 3600,
    },
  });
  provider.on('server_error', (_ctx, err) => {
    serverErrors.push(err);
    if (process.env.AUTH_SERVER_DEBUG) console.error('auth-server server_error:', err);
  });
  const providerCallback = provider.callback();

  const wait = sleeper(pendingTimers);

  async function handleTokenRequest(req, res) {
    const entry = { method: 'POST', path: new URL(req.url, issuer).pathname };
    requests.push(entry);
    const body = await readBody(req);
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
      Object.assign(replay, { headers, rawHeaders });
      return providerCallback(replay, res);
    }
    return providerCallback(replayRequest(req, body), res);
  }

  front.on('request', (req, res) => {
    const path = new URL(req.url, issuer).pathname;
    const isTokenPost = req.method === 'POST' && path === tokenPath;
    if (isTokenPost) counts.tokenRequests += 1;
    if (req.method === 'GET' && path === '/.well-known/openid-configuration') counts.discoveryRequests += 1;

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
    deviceAuthorizationUrl: `${issuer}/device/auth`,
    revocationUrl: `${issuer}/token/revocation`,
    jwksUrl: `${issuer}/jwks`,
    provider,
    requests,
    serverErrors,
    get tokenRequests() { return counts.tokenRequests; },
    get discoveryRequests() { return counts.discoveryRequests; },
    get accessTokenTtl() { return accessTokenTtl; },
    get delayMs() { return delayMs; },
    resetCounts() {
      counts.tokenRequests = 0;
      counts.discoveryRequests = 0;
      requests.length = 0;
    },
    setAccessTokenTtl(seconds) {
      if (!Number.isInteger(seconds) || seconds <= 0) throw new TypeError('TTL must be a positive integer of seconds');
      accessTokenTtl = seconds;
    },
    setDelay(ms) {
      if (!(ms >= 0)) throw new TypeError('delay must be >= 0 ms');
      delayMs = ms;
    },
    /**
     * Approve a pending device authorization (what the user would do on /device).
     * @param {string} userCode as shown to the user (dashes and case are ignored)
     * @param {{accountId?: string, scope?: string}} [opts] scope defaults to the one requested
     */
    async approveDeviceCode(userCode, { accountId = 'test-user', scope } = {}) {
      const normalized = userCode.toUpperCase().replace(/\W/g, '');
      const code = await provider.DeviceCode.findByUserCode(normalized);
      if (!code) throw new Error(`no pending device code for user code ${userCode}`);
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
      return { grantId };
    },
    /** Deny a pending device authorization (the token endpoint then answers access_denied). */
    async denyDeviceCode(userCode) {
      const normalized = userCode.toUpperCase().replace(/\W/g, '');
      const code = await provider.DeviceCode.findByUserCode(normalized);
      if (!code) throw new Error(`no pending device code for user code ${userCode}`);
      Object.assign(code, { error: 'access_denied', errorDescription: 'End-User denied the request' });
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
  }),
});
