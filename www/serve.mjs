// A tiny static server for the token tool, on 127.0.0.1 only:
//   /        -> www/ (index.html for "/")
//   /pkg/... -> the built npm package (../pkg)
//
// Library use:   const { url, close } = await startWwwServer({ port: 0 });
// CLI use:       node www/serve.mjs [--port 8080]   (prints its URL; Ctrl-C stops it)
import { once } from 'node:events';
import { existsSync, realpathSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const WWW_DIR = fileURLToPath(new URL('.', import.meta.url));
const PKG_DIR = fileURLToPath(new URL('../pkg/', import.meta.url));

// Only these are served; anything else (serve.mjs itself, dotfiles, .d.ts…) is a 404.
const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json; charset=utf-8',
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

async function handle(req, res, port) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return send(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
  }
  // Only answer to the names this server listens under (no DNS rebinding).
  const host = (req.headers.host ?? '').toLowerCase();
  if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) {
    return send(res, 421, 'unexpected Host header\n');
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
 * @param {{port?: number}} [options] port 0 (the default) picks a free one
 * @returns {Promise<{url: string, port: number, close: () => Promise<void>}>}
 */
export async function startWwwServer({ port = 0 } = {}) {
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
    handle(req, res, actualPort).catch(() => {
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
  const { values } = parseArgs({ options: { port: { type: 'string', default: '8080' } } });
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port > 65535) {
    console.error(`serve.mjs: invalid --port ${values.port}`);
    process.exit(2);
  }
  if (!existsSync(join(PKG_DIR, 'browser.js'))) {
    console.error('serve.mjs: pkg/browser.js is missing; build the package first: node pkg-template/build.mjs');
  }
  const server = await startWwwServer({ port });
  console.log(server.url);
  const stop = async () => {
    await server.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
