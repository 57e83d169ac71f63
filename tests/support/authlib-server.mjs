// Node side of tests/support/authlib_server.py: a real OAuth 2.0 authorization server
// (Authlib + Flask) with the password and refresh_token grants, run as a child process.
//
//   const server = await startAuthlibServer({ accessTokenTtl: 60 });
//   server.tokenUrl   // POST, form-urlencoded; client_secret_basic or client_secret_post
//   await server.requests()   // token requests seen (no secrets, no tokens)
//   await server.close()
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

/** The Python interpreter the wrapper runs. */
export function authlibPython() {
  if (process.env.AUTHLIB_PYTHON) return process.env.AUTHLIB_PYTHON;
  return existsSync(VENV_PYTHON) ? VENV_PYTHON : 'python3';
}

/**
 * Start the Authlib server on 127.0.0.1 (a free port).
 * @param {{accessTokenTtl?: number, refreshTokenTtl?: number}} [options] seconds (the
 *   access token TTL whole, the refresh token TTL may have fractions)
 * @returns {Promise<{url: string, tokenUrl: string, resourceUrl: string, pid: number,
 *   requests(): Promise<object[]>, close(): Promise<void>}>}
 */
export async function startAuthlibServer(options = {}) {
  const args = [SCRIPT, '--port', '0'];
  if (options.accessTokenTtl !== undefined) args.push('--access-token-ttl', String(options.accessTokenTtl));
  if (options.refreshTokenTtl !== undefined) args.push('--refresh-token-ttl', String(options.refreshTokenTtl));

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

  let closed;
  return {
    url: info.url,
    tokenUrl: info.tokenUrl,
    resourceUrl: info.resourceUrl,
    pid: child.pid,
    get stderr() { return stderr; },
    /** The token requests the server has seen (grantType, clientId, authMethod, status, ...). */
    async requests() {
      const res = await fetch(info.requestsUrl);
      if (!res.ok) throw new Error(`GET ${info.requestsUrl}: ${res.status}`);
      return res.json();
    },
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
