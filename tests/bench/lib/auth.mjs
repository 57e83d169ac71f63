// Starts lib/auth-process.mjs (oidc-provider on 127.0.0.1 in its own process) and talks to it.
//
//   const auth = await startAuth(['edge', 'badgateway']);   // one registered client each
//   auth.tokenUrl, auth.issuer, auth.client('edge') -> { clientId, clientSecret, authMethod }
//   await auth.setTtl(5); await auth.counts(); await auth.reset(); await auth.close();

import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./auth-process.mjs', import.meta.url));

/** The registered client for a candidate name: client_secret_basic, plain characters. */
export function benchClient(name) {
  return {
    clientId: `bench-${name}`,
    clientSecret: `bench-${name}-secret-7Qd2`,
    authMethod: 'client_secret_basic',
  };
}

export const SCOPE = 'api:read';

export async function startAuth(names) {
  const child = fork(SCRIPT, [JSON.stringify(names.map(benchClient))], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map();
  let nextId = 0;
  const ready = new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`auth server exited (${code}) before it was ready`)));
    child.on('message', (message) => {
      if (message.ready) return resolve(message);
      const waiter = pending.get(message.id);
      if (!waiter) return;
      pending.delete(message.id);
      if (message.error) waiter.reject(new Error(message.error));
      else waiter.resolve(message.result);
    });
  });
  const info = await ready;
  child.removeAllListeners('exit');
  const call = (cmd, arg) => new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    child.send({ id, cmd, arg });
  });
  return {
    issuer: info.issuer,
    tokenUrl: info.tokenUrl,
    tokenPath: info.tokenPath,
    pid: child.pid,
    client: benchClient,
    setTtl: (seconds) => call('ttl', seconds),
    counts: () => call('counts'),
    reset: () => call('reset'),
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      try {
        await call('close');
      } catch {
        child.kill('SIGKILL');
      }
      await exited;
      clearTimeout(timer);
    },
  };
}
