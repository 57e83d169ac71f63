// Runs the built edge-oauth Worker (build/index.js + build/index_bg.wasm, made by
// `bash .ci/build-worker`) in workerd through miniflare, with the given vars/secrets.
//
//   const worker = await startWorker({ bindings: { ORIGIN_URL, TOKEN_URL, CLIENT_ID, … } });
//   const res = await worker.dispatchFetch('/v1/items?x=1', { headers: { … } });
//   await worker.fetch('/v1/items', init)   the same over real HTTP to worker.url
//   worker.url        the http://127.0.0.1:PORT/ miniflare listens on (for raw HTTP clients)
//   worker.logs       every line the Worker wrote (console.log etc.), as { level, message, at }
//   await worker.waitForLogs(n)   until at least n lines are there
//   await worker.dispose()
//
// dispatchFetch takes a path (appended verbatim to http://worker.local, so '//x' stays a
// path) or a full URL, and never follows redirects unless init.redirect says otherwise.
// workerd compresses text and JSON answers when the caller accepts gzip; both functions
// send `accept-encoding: identity` unless init.headers has another value.
//
// dispatchFetch (miniflare's) hands the Worker every request body as a stream: a body with
// a known length arrives with `transfer-encoding: chunked` and no `content-length`. Use
// fetch() (an HTTP request to the listening socket) when the Worker must see the length.
//
// ensureWorkerBuilt() builds the Worker when build/index_bg.wasm is missing or older than
// a file under src/ (or Cargo.toml); EDGE_OAUTH_SKIP_WORKER_BUILD=1 turns that off.

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Miniflare } from 'miniflare';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BUILD_DIR = join(ROOT, 'build');
export const WORKER_SCRIPT = join(BUILD_DIR, 'index.js');
export const WORKER_WASM = join(BUILD_DIR, 'index_bg.wasm');
export const COMPATIBILITY_DATE = '2026-07-01';
const DISPATCH_BASE = 'http://worker.local';

function newestMtime(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = 0;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

/** Whether build/ is missing or older than the sources. */
export function workerBuildIsStale() {
  if (!existsSync(WORKER_SCRIPT) || !existsSync(WORKER_WASM)) return true;
  const built = statSync(WORKER_WASM).mtimeMs;
  const sources = Math.max(newestMtime(join(ROOT, 'src')), newestMtime(join(ROOT, 'Cargo.toml')));
  return sources > built;
}

let building;
/** Builds the Worker with `.ci/build-worker` if needed (once per process). */
export function ensureWorkerBuilt() {
  if (process.env.EDGE_OAUTH_SKIP_WORKER_BUILD === '1') return Promise.resolve();
  building ??= (async () => {
    if (!workerBuildIsStale()) return;
    await new Promise((resolve, reject) => {
      const child = spawn('bash', [join(ROOT, '.ci', 'build-worker')], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d) => { output += d; });
      child.stderr.on('data', (d) => { output += d; });
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve()
        : reject(new Error(`.ci/build-worker failed (exit ${code}):\n${output.slice(-4000)}`))));
    });
  })();
  return building;
}

/** The built edge-oauth Worker as a miniflare worker named `name`. */
function edgeOauthWorker(name, bindings) {
  return {
    name,
    modules: true,
    scriptPath: WORKER_SCRIPT,
    modulesRoot: BUILD_DIR,
    modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }],
    compatibilityDate: COMPATIBILITY_DATE,
    bindings,
  };
}

/** A response read whole: `{ status, headers, text, json }` (json undefined unless JSON). */
export async function readAnswer(res) {
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/**
 * Starts the Worker in workerd with `bindings` as its vars/secrets (strings, or JSON values
 * such as a `[[vars.ROUTES]]` table gives).
 * @param {{ bindings: Record<string, unknown>, services?: Record<string, string>, build?: boolean }} options
 *   services: more Workers in the same workerd, each an ES module script, bound to the
 *   edge-oauth Worker as service bindings of these names;
 *   build: false skips ensureWorkerBuilt().
 */
export async function startWorker({ bindings = {}, services = {}, build = true } = {}) {
  if (build) await ensureWorkerBuilt();
  const logs = [];
  const waiters = new Set();
  const onLog = ({ level, message }) => {
    for (const line of String(message).split('\n')) {
      if (line === '') continue;
      logs.push({ level, message: line, at: Date.now() });
    }
    for (const waiter of waiters) waiter();
  };
  const proxy = {
    ...edgeOauthWorker('edge-oauth', bindings),
    serviceBindings: Object.fromEntries(Object.keys(services).map((name) => [name, `service-${name}`])),
  };
  const others = Object.entries(services).map(([name, script]) => ({
    name: `service-${name}`,
    modules: true,
    script,
    compatibilityDate: COMPATIBILITY_DATE,
  }));
  const mf = new Miniflare({
    cf: false,
    host: '127.0.0.1',
    port: 0,
    handleStructuredLogs: onLog,
    workers: [proxy, ...others],
  });
  let url;
  try {
    url = await mf.ready;
  } catch (err) {
    await mf.dispose().catch(() => {});
    throw err;
  }

  let disposed;
  return {
    mf,
    url: url.href,
    logs,
    /** Sends a request to the Worker: `target` is a path ('/x?y') or an absolute URL. */
    dispatchFetch(target, init = {}) {
      const full = target.startsWith('/') ? `${DISPATCH_BASE}${target}` : target;
      const headers = new Headers(init.headers ?? {});
      if (!headers.has('accept-encoding')) headers.set('accept-encoding', 'identity');
      return mf.dispatchFetch(full, { redirect: 'manual', ...init, headers });
    },
    /** Sends a real HTTP request to the Worker's socket: `target` is a path or a URL. */
    fetch(target, init = {}) {
      const full = target.startsWith('/') ? `${url.origin}${target}` : target;
      const headers = new Headers(init.headers ?? {});
      if (!headers.has('accept-encoding')) headers.set('accept-encoding', 'identity');
      return fetch(full, { redirect: 'manual', ...init, headers });
    },
    /** Resolves once at least `count` log lines were captured (rejects after timeoutMs). */
    waitForLogs(count, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (logs.length >= count) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(logs);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`expected ${count} log lines within ${timeoutMs} ms, got ${logs.length}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async dispose() {
      disposed ??= mf.dispose();
      return disposed;
    },
  };
}

/**
 * Starts `count` instances of the Worker in one workerd (one isolate each), sharing one
 * `TOKEN_BROKER` Durable Object namespace (the TokenBroker class of the first instance), as
 * a deployment's isolates share one broker per credential.
 * @param {{ count: number, bindings: Record<string, unknown>, persist?: string,
 *   broker?: string }} options
 *   persist: a directory that keeps the Durable Objects' storage (a later fleet with the same
 *   directory finds it); broker: an ES module script whose `TokenBroker` class replaces the
 *   Worker's own (a broker that throws or hangs), or false for no TOKEN_BROKER binding.
 * Returns { fetch(i, path, init), logs, dispose() }.
 */
export async function startFleet({ count, bindings, persist, broker, build = true }) {
  if (build) await ensureWorkerBuilt();
  const logs = [];
  const host = broker === undefined ? 'edge-oauth-0' : 'broker';
  const durableObjects = broker === false ? {} : { TOKEN_BROKER: { className: 'TokenBroker', scriptName: host } };
  const instance = (i) => ({ ...edgeOauthWorker(`edge-oauth-${i}`, bindings), durableObjects });
  const workers = Array.from({ length: count }, (_, i) => instance(i));
  if (typeof broker === 'string') {
    workers.push({ name: 'broker', modules: true, script: broker, compatibilityDate: COMPATIBILITY_DATE });
  }
  const mf = new Miniflare({
    cf: false,
    host: '127.0.0.1',
    port: 0,
    handleStructuredLogs: ({ level, message }) => {
      for (const line of String(message).split('\n')) if (line !== '') logs.push({ level, message: line, at: Date.now() });
    },
    ...(persist === undefined ? {} : { durableObjectsPersist: persist }),
    workers,
  });
  try {
    await mf.ready;
  } catch (err) {
    await mf.dispose().catch(() => {});
    throw err;
  }
  const fetchers = await Promise.all(workers.slice(0, count).map((w) => mf.getWorker(w.name)));
  let disposed;
  return {
    mf,
    logs,
    /** A request to instance `i`: `path` is appended to http://worker.local. */
    fetch(i, path, init = {}) {
      const headers = new Headers(init.headers ?? {});
      if (!headers.has('accept-encoding')) headers.set('accept-encoding', 'identity');
      return fetchers[i].fetch(`${DISPATCH_BASE}${path}`, { redirect: 'manual', ...init, headers });
    },
    async dispose() {
      disposed ??= mf.dispose();
      return disposed;
    },
  };
}
