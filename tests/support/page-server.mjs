// A static server for browser tests on 127.0.0.1: `/` is the test's page, `/pkg/…` the built
// npm package (pkg/), nothing else. `served` lists every path asked for.
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const PKG_DIR = fileURLToPath(new URL('../../pkg/', import.meta.url));
const CONTENT_TYPES = {
  '.js': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.ts': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
};

/** Serves `html` at `/` (and `/index.html`) and the package under `/pkg/`. */
export async function startPageServer(html) {
  const served = [];
  const server = http.createServer(async (req, res) => {
    const { pathname } = new URL(req.url, 'http://127.0.0.1');
    served.push(pathname);
    if (pathname === '/' || pathname === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(html);
      return;
    }
    if (pathname.startsWith('/pkg/')) {
      let relative;
      try {
        relative = decodeURIComponent(pathname.slice('/pkg/'.length));
      } catch {
        relative = ''; // a malformed escape: answered 404 below
      }
      const file = normalize(join(PKG_DIR, relative));
      if (relative && file.startsWith(PKG_DIR.endsWith(sep) ? PKG_DIR : PKG_DIR + sep)) {
        try {
          const body = await readFile(file);
          res.writeHead(200, { 'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream' });
          res.end(body);
          return;
        } catch {
          // fall through to 404
        }
      }
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    served,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
