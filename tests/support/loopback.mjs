// The plumbing every test support server shares: listening on the loopback address, an
// idempotent close(), and the CLI mode (`node tests/support/<server>.mjs --port N`).
//
//   const server = http.createServer(requestHandler(handle, (res, err) => sendJson(res, 500, ...)));
//   const { url, port } = await listen(server, options.port ?? 0);   // http://127.0.0.1:PORT
//   return { url, port, close: closer(server, timers) };
//
//   await runCli(import.meta.url, {
//     name: 'fixture-server',
//     start: ({ port }) => startFixtureServer({ port }),
//     describe: (server) => ({ url: server.url }),
//   });

import { once } from 'node:events';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const LOOPBACK_HOST = '127.0.0.1';

/**
 * Listen on host:port (port 0 picks a free one). Works for http.Server and net.Server.
 * Rejects with the listen error (EADDRINUSE...) instead of emitting it.
 * @param {import('node:net').Server} server
 * @param {number} [port]
 * @param {string} [host]
 * @returns {Promise<{url: string, port: number}>} url is http://HOST:PORT (no trailing slash)
 */
export function listen(server, port = 0, host = LOOPBACK_HOST) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host }, () => {
      server.off('error', reject);
      const actual = server.address().port;
      resolve({ url: `http://${host}:${actual}`, port: actual });
    });
  });
}

/**
 * A request listener for http.createServer() that runs the async `handle(req, res)`; when
 * it rejects, fail(res, err) answers if nothing was sent yet, else the response is destroyed.
 * @param {(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => Promise<unknown>} handle
 * @param {(res: import('node:http').ServerResponse, err: unknown) => void} fail
 */
export function requestHandler(handle, fail) {
  return (req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) fail(res, err);
      else res.destroy();
    });
  };
}

/** `wait(ms)` for fault injection; its timers go in `timers`, which `closer` clears. */
export function sleeper(timers) {
  return (ms) =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });
}

/**
 * An idempotent close() for an http.Server: clears the pending timers (if given), stops
 * listening, drops every open connection (hanging requests included) and resolves once the
 * server has emitted 'close'. Every call returns the same promise.
 * @param {import('node:http').Server} server
 * @param {Set<ReturnType<typeof setTimeout>>} [timers] cleared (and emptied) first
 * @returns {() => Promise<void>}
 */
export function closer(server, timers) {
  let closed;
  return function close() {
    closed ??= (async () => {
      if (timers) {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
      }
      const done = once(server, 'close');
      server.close();
      server.closeAllConnections();
      await done;
    })();
    return closed;
  };
}

/** True when the module at `importMetaUrl` is the script node was started with. */
export function isMain(importMetaUrl) {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(importMetaUrl));
  } catch {
    return false;
  }
}

/**
 * CLI mode of a support server, a no-op unless `importMetaUrl` is the main module.
 * Parses --port (default 0; anything but an integer 0..65535 prints "NAME: invalid --port V"
 * and exits 2) plus `options` (node:util parseArgs options, strict), starts the server with
 * start({ port, values }), prints JSON.stringify(describe(server)) as one line on stdout and
 * then runs until SIGTERM or SIGINT, which close the server and exit 0.
 * @param {string} importMetaUrl
 * @param {{
 *   name: string,
 *   options?: Record<string, import('node:util').ParseArgsOptionConfig>,
 *   start: (args: {port: number, values: Record<string, string | boolean | undefined>}) =>
 *     Promise<{close: () => Promise<void>}>,
 *   describe: (server: any) => object,
 * }} cli
 */
export async function runCli(importMetaUrl, { name, options = {}, start, describe }) {
  if (!isMain(importMetaUrl)) return;
  const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, ...options } });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`${name}: invalid --port ${values.port}`);
    process.exit(2);
  }
  const server = await start({ port, values });
  const stop = async () => {
    await server.close();
    process.exit(0);
  };
  // Handlers first: whoever reads the line below may signal at once.
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.stdout.write(`${JSON.stringify(describe(server))}\n`);
}

/**
 * Answers a CORS preflight for the browser tests: any origin, the `Authorization` and
 * `Content-Type` request headers, and `methods`.
 * @param {import('node:http').ServerResponse} res
 * @param {string} methods e.g. 'GET, POST'
 */
export function answerPreflight(res, methods) {
  res.writeHead(204, {
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Allow-Methods': methods,
    'Access-Control-Allow-Headers': 'Authorization, Content-Type',
    'Access-Control-Max-Age': '600',
    'Content-Length': '0',
  });
  res.end();
}
