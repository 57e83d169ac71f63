// Drives lib/load.mjs (autocannon) in a process of its own over IPC, for the worker and soak
// sections: the load generator's work never runs on the event loop of the servers it loads.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const LOAD = fileURLToPath(new URL('./load.mjs', import.meta.url));

/** `{ ready, run(options), aggregate(), close() }` for a fresh load process. */
export function startLoad() {
  const child = fork(LOAD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map();
  let next = 0;
  const ready = new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`load generator exited (${code})`)));
    child.on('message', (m) => {
      if (m.ready) return resolve();
      const w = pending.get(m.id);
      pending.delete(m.id);
      if (m.error) w?.reject(new Error(m.error));
      else w?.resolve(m.result);
    });
  });
  const call = (cmd, arg = {}) =>
    new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      child.send({ id, cmd, ...arg });
    });
  return {
    ready,
    run: (arg) => call('run', arg),
    aggregate: () => call('aggregate'),
    close() {
      child.removeAllListeners('exit');
      if (child.exitCode === null) child.kill();
    },
  };
}
