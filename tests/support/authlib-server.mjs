// Node side of tests/support/authlib_server.py: a real OAuth 2.0 authorization server
// (Authlib + Flask) with the password, refresh_token and device_code (RFC 8628) grants, run
// as a child process.
//
//   const server = await startAuthlibServer({ accessTokenTtl: 60 });
//   server.tokenUrl   // POST, form-urlencoded; client_secret_basic or client_secret_post
//   await server.requests()   // token requests seen (no secrets, no tokens)
//   await server.close()
//
// Device flow: AUTHLIB_CLIENT (confidential) and AUTHLIB_DEVICE_CLIENT (public, client_id
// only) may use it; refresh tokens are issued to both.
//   const server = await startAuthlibServer({ deviceCodeTtl: 5, deviceInterval: 1 });
//   server.deviceAuthorizationUrl
//   const { userCode } = await server.deviceAuthorization(0);  // what the client was told
//   await server.approve(userCode)  /  await server.deny(userCode)
//   await server.slowDown(2)        // the next 2 device_code polls answer slow_down
//   await server.devicePolls()      // device_code polls: at (ms), deviceCode, status, error
//
// It runs the Python of the project's venv (<repo>/.venv/bin/python3, made by
// `bash tests/support/install-python.sh`); AUTHLIB_PYTHON overrides it, and without a
// venv python3 from PATH is tried (it must have requirements.txt installed).

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./authlib_server.py', import.meta.url));
const VENV_PYTHON = fileURLToPath(new URL('../../.venv/bin/python3', import.meta.url));
const START_TIMEOUT_MS = 15_000;

// Keep in step with authlib_server.py.
export const AUTHLIB_CLIENT = Object.freeze({
  clientId: 'authlib-client',
  clientSecret: 'authlib-client-secret-R5t8',
  // Authlib accepts either for this client.
  authMethods: Object.freeze(['client_secret_basic', 'client_secret_post']),
});

export const AUTHLIB_USER = Object.freeze({
  username: 'authlib-user',
  password: 'authlib-password-M3v6',
});

export const AUTHLIB_SCOPES = 'api:read api:write';

// Public client for the device authorization grant (token_endpoint_auth_method none).
export const AUTHLIB_DEVICE_CLIENT = Object.freeze({
  clientId: 'authlib-device-client',
  clientSecret: undefined,
  authMethods: Object.freeze(['none']),
});

/** The Python interpreter the wrapper runs. */
export function authlibPython() {
  if (process.env.AUTHLIB_PYTHON) return process.env.AUTHLIB_PYTHON;
  return existsSync(VENV_PYTHON) ? VENV_PYTHON : 'python3';
}

/**
 * Start the Authlib server on 127.0.0.1 (a free port).
 * @param {{accessTokenTtl?: number, refreshTokenTtl?: number, deviceCodeTtl?: number,
 *   deviceInterval?: number|null, enforceInterval?: boolean}} [options] seconds (the
 *   access token, device code TTLs and interval whole, the refresh token TTL may have
 *   fractions). deviceCodeTtl defaults to 600, deviceInterval to 1 (null: no `interval`
 *   in the device authorization response); enforceInterval answers slow_down to polls
 *   sooner than the interval (and adds 5 s to it).
 */
export async function startAuthlibServer(options = {}) {
  const args = [SCRIPT, '--port', '0'];
  if (options.accessTokenTtl !== undefined) args.push('--access-token-ttl', String(options.accessTokenTtl));
  if (options.refreshTokenTtl !== undefined) args.push('--refresh-token-ttl', String(options.refreshTokenTtl));
  if (options.deviceCodeTtl !== undefined) args.push('--device-code-ttl', String(options.deviceCodeTtl));
  if (options.deviceInterval !== undefined) args.push('--device-interval', options.deviceInterval === null ? 'none' : String(options.deviceInterval));
  if (options.enforceInterval) args.push('--enforce-interval');

  const python = authlibPython();
  const child = spawn(python, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-8000);
  });
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (error) => resolve({ error }));
  });

  const info = await new Promise((resolve, reject) => {
    let stdout = '';
    let settled = false;
    const fail = (why) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`authlib server did not start (${why}) with ${python}; `
        + 'run `bash tests/support/install-python.sh` first.'
        + (stderr ? `\n--- its stderr ---\n${stderr.trim()}` : '')));
    };
    const timer = setTimeout(() => fail(`no JSON line within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      const newline = stdout.indexOf('\n');
      if (newline === -1 || settled) return;
      let parsed;
      try {
        parsed = JSON.parse(stdout.slice(0, newline));
      } catch {
        return fail(`unexpected output ${JSON.stringify(stdout.slice(0, 200))}`);
      }
      settled = true;
      clearTimeout(timer);
      resolve(parsed);
    });
    exited.then((how) => fail(how.error ? how.error.message : `exited with ${how.signal ?? how.code}`));
  });
  child.stdout.resume();

  const getJson = async (path) => {
    const res = await fetch(`${info.url}${path}`);
    if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
    return res.json();
  };
  const postJson = async (path, body) => {
    const res = await fetch(`${info.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`POST ${path} ${JSON.stringify(body)}: ${res.status} ${json.error ?? ''}`);
    return json;
  };
  const deviceAuthorizations = () => getJson('/test/device/authorizations');
  const devicePolls = async (deviceCode) => (await getJson('/test/requests')).filter(
    (r) => r.grantType === 'urn:ietf:params:oauth:grant-type:device_code'
      && (deviceCode === undefined || r.deviceCode === deviceCode),
  );

  let closed;
  return {
    url: info.url,
    tokenUrl: info.tokenUrl,
    resourceUrl: info.resourceUrl,
    deviceAuthorizationUrl: info.deviceAuthorizationUrl,
    pid: child.pid,
    get stderr() { return stderr; },
    /**
     * The token requests the server has seen (grantType, clientId, authMethod, status,
     * at (arrival, ms since the epoch), error, deviceCode for device_code polls, ...).
     */
    async requests() {
      const res = await fetch(info.requestsUrl);
      if (!res.ok) throw new Error(`GET ${info.requestsUrl}: ${res.status}`);
      return res.json();
    },
    /** The device_code polls, optionally of one device code, in arrival order. */
    devicePolls,
    /** Milliseconds between consecutive device_code polls (of deviceCode, or all). */
    async pollGaps(deviceCode) {
      const polls = await devicePolls(deviceCode);
      return polls.slice(1).map((p, i) => Math.round(p.at - polls[i].at));
    },
    /** Device authorization responses sent: [{at, clientId, scope, deviceCode, userCode, expiresIn, interval}]. */
    deviceAuthorizations,
    /** The n-th (0-based) device authorization response, waiting up to timeoutMs for it. */
    async deviceAuthorization(n = 0, { timeoutMs = 10_000 } = {}) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const list = await deviceAuthorizations();
        if (list[n]) return list[n];
        if (Date.now() >= deadline) throw new Error(`no device authorization #${n} within ${timeoutMs} ms (${list.length} so far)`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    /** { deviceAuthorizationRequests, tokenRequests, slowDownRemaining } */
    stats: () => getJson('/test/device/stats'),
    /** The user approves (throws when the user code is unknown, expired or already decided). */
    approve: (userCode) => postJson('/test/device/approve', { user_code: userCode }),
    /** The user denies: the next poll answers access_denied. */
    deny: (userCode) => postJson('/test/device/deny', { user_code: userCode }),
    /** The next `count` device_code polls answer slow_down (replaces a pending count). */
    slowDown: (count = 1) => postJson('/test/device/slow-down', { count }),
    /**
     * Change settings for what is issued from now on:
     * { deviceCodeTtl, interval (null: left out), enforceInterval, accessTokenTtl }.
     */
    configure: (settings) => postJson('/test/device/config', settings),
    async close() {
      closed ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
          await exited;
          clearTimeout(timer);
        }
      })();
      return closed;
    },
  };
}
