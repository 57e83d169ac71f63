// A tiny static server for the token tool, on 127.0.0.1 only:
//   /                   -> www/ (index.html for "/")
//   /pkg/...            -> the built npm package (../pkg)
//   /vendor/qrcode.mjs  -> qrcode-generator's ES module (the device flow's QR code)
//   /sandbox.json       -> the local sandbox's settings ({"sandbox": null} without one)
//   POST /sandbox/approve {"userCode"} -> approves a device sign-in in the sandbox
//
// Library use:   const { url, close } = await startWwwServer({ port: 0 });
//                const sandbox = await startSandbox({ accessTokenTtl: 30 });
//                const www = await startWwwServer({ port: 0, sandbox });
// CLI use:       node www/serve.mjs [--port 8080] [--sandbox]   (prints its URL; Ctrl-C stops it)
//   --sandbox starts a local oidc-provider (tests/support/auth-server.mjs) with 30-second
//   tokens, a client-credentials client and a device-flow public client, and prints the
//   page's URL with the "Local sandbox" preset selected.
import { once } from 'node:events';
import { existsSync, realpathSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const WWW_DIR = fileURLToPath(new URL('.', import.meta.url));
const PKG_DIR = fileURLToPath(new URL('../pkg/', import.meta.url));
const VENDOR = {
  '/vendor/qrcode.mjs': fileURLToPath(new URL('../node_modules/qrcode-generator/dist/qrcode.mjs', import.meta.url)),
};
export const SANDBOX_TOKEN_TTL = 30;

/**
 * Start the local sandbox: a real oidc-provider on 127.0.0.1 (tests/support/auth-server.mjs,
 * CORS for any origin). Its clients' secrets are test values, public in this repository.
 * @returns {Promise<{settings: object, approve: (userCode: string) => Promise<unknown>, close: () => Promise<void>}>}
 */
export async function startSandbox({ accessTokenTtl = SANDBOX_TOKEN_TTL, port = 0 } = {}) {
  const { startAuthServer, CLIENTS, API_SCOPES } = await import('../tests/support/auth-server.mjs');
  const auth = await startAuthServer({ port, accessTokenTtl });
  return {
    auth,
    settings: {
      issuer: auth.issuer,
      tokenUrl: auth.tokenUrl,
      deviceAuthorizationUrl: auth.deviceAuthorizationUrl,
      scope: API_SCOPES,
      accessTokenTtl,
      client: { clientId: CLIENTS.basic.clientId, clientSecret: CLIENTS.basic.clientSecret, authMethod: CLIENTS.basic.authMethod },
      deviceClient: { clientId: CLIENTS.device.clientId, authMethod: 'none', scope: `openid offline_access ${API_SCOPES}` },
    },
    approve: (userCode) => auth.approveDeviceCode(userCode),
    close: () => auth.close(),
  };
}

// Only these are served; anything else (serve.mjs itself, dotfiles, .d.ts…) is a 404.
const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/** The file under `root` that `relative` (already URL-decoded) names, or null if it escapes. */
function resolveInside(root, relative) {
  const path = normalize(join(root, relative));
  const base = root.endsWith(sep) ? root : root + sep;
  return path.startsWith(base) ? path : null;
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

async function approve(req, res, port, sandbox) {
  // Same-origin only: the page's own fetch, never another site's form.
  const origin = req.headers.origin ?? '';
  if (origin !== `http://127.0.0.1:${port}` && origin !== `http://localhost:${port}`) {
    return send(res, 403, 'forbidden\n');
  }
  if (!sandbox) return send(res, 404, 'no sandbox\n');
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 4096) return send(res, 413, 'too large\n');
    chunks.push(chunk);
  }
  let userCode;
  try {
    userCode = JSON.parse(Buffer.concat(chunks).toString('utf8')).userCode;
  } catch {
    userCode = undefined;
  }
  if (typeof userCode !== 'string' || userCode === '') return send(res, 400, 'userCode missing\n');
  try {
    await sandbox.approve(userCode);
  } catch (err) {
    return send(res, 409, `${err?.message ?? 'not approved'}\n`);
  }
  return send(res, 200, 'approved\n');
}

async function handle(req, res, port, sandbox) {
  // Only answer to the names this server listens under (no DNS rebinding).
  const host = (req.headers.host ?? '').toLowerCase();
  if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) {
    return send(res, 421, 'unexpected Host header\n');
  }
  const path = req.url.split('?')[0];
  if (req.method === 'POST' && path === '/sandbox/approve') return approve(req, res, port, sandbox);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return send(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
  }
  if (path === '/sandbox.json') {
    const body = JSON.stringify({ sandbox: sandbox?.settings ?? null });
    res.writeHead(200, { 'content-type': MIME['.json'], 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    return res.end(req.method === 'HEAD' ? undefined : body);
  }

  let pathname;
  try {
    pathname = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  } catch {
    return send(res, 400, 'bad path\n');
  }
  if (pathname.includes('\0') || pathname.split('/').some((seg) => seg.startsWith('.') && seg !== '')) {
    return send(res, 404, 'not found\n');
  }

  let file;
  if (pathname === '/') file = join(WWW_DIR, 'index.html');
  else if (VENDOR[pathname]) file = VENDOR[pathname];
  else if (pathname.startsWith('/pkg/')) file = resolveInside(PKG_DIR, pathname.slice('/pkg/'.length));
  else file = resolveInside(WWW_DIR, pathname.slice(1));

  const type = file ? MIME[extname(file)] : undefined;
  if (!file || !type) return send(res, 404, 'not found\n');

  let body;
  try {
    if (!(await stat(file)).isFile()) return send(res, 404, 'not found\n');
    body = await readFile(file);
  } catch {
    return send(res, 404, 'not found\n');
  }
  res.writeHead(200, {
    'content-type': type,
    'content-length': body.length,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * Start the server on 127.0.0.1.
 * @param {{port?: number, sandbox?: object | null}} [options] port 0 (the default) picks a free
 *   one; `sandbox` (from startSandbox) is offered to the page as its "Local sandbox" preset
 * @returns {Promise<{url: string, port: number, close: () => Promise<void>}>}
 */
export async function startWwwServer({ port = 0, sandbox = null } = {}) {
  const server = http.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1' }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actualPort = server.address().port;
  server.on('request', (req, res) => {
    handle(req, res, actualPort, sandbox).catch(() => {
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
    });
  });

  let closed;
  return {
    url: `http://127.0.0.1:${actualPort}/`,
    port: actualPort,
    close() {
      closed ??= (async () => {
        const done = once(server, 'close');
        server.close();
        server.closeAllConnections();
        await done;
      })();
      return closed;
    },
  };
}

function isMain() {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '8080' }, sandbox: { type: 'boolean', default: false } } });
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port > 65535) {
    console.error(`serve.mjs: invalid --port ${values.port}`);
    process.exit(2);
  }
  if (!existsSync(join(PKG_DIR, 'browser.js'))) {
    console.error('serve.mjs: pkg/browser.js is missing; build the package first: node pkg-template/build.mjs');
  }
  const sandbox = values.sandbox ? await startSandbox() : null;
  const server = await startWwwServer({ port, sandbox });
  if (sandbox) {
    console.log(`Local sandbox (oidc-provider, ${SANDBOX_TOKEN_TTL}-second tokens): ${sandbox.settings.issuer}`);
    console.log(`Open ${server.url}?preset=sandbox`);
  } else {
    console.log(server.url);
  }
  const stop = async () => {
    await Promise.all([server.close(), sandbox?.close()]);
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
