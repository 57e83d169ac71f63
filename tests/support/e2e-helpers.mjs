// Small helpers shared by the end-to-end suites (client, resilience, runtimes).
import assert from 'node:assert/strict';
import { inspect } from 'node:util';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The payload of a JWT, decoded (not verified). */
export function jwtPayload(token) {
  const parts = String(token).split('.');
  assert.equal(parts.length, 3, 'a JWT has three dot-separated parts');
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
}

/** An unsigned JWT (alg "none") carrying `claims`. */
export function unsignedJwt(claims) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
}

/**
 * Awaits `promise`, asserts it rejects with a TokenError of `code` (and the other listed
 * fields, compared strictly), and returns the error.
 */
export async function rejectsWith(promise, TokenError, code, fields = {}) {
  let error;
  try {
    const value = await promise;
    assert.fail(`expected a TokenError with code '${code}', got a value: ${typeof value}`);
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    error = err;
  }
  assert.ok(error instanceof TokenError, `expected a TokenError, got ${inspect(error)}`);
  assert.ok(error instanceof Error, 'TokenError extends Error');
  assert.equal(error.name, 'TokenError');
  assert.equal(error.code, code, `code (message: ${error.message})`);
  for (const [name, value] of Object.entries(fields)) {
    assert.deepEqual(error[name], value, `error.${name}`);
  }
  return error;
}

/** Calls `fn`, asserts it throws a TokenError with code 'config', and returns the error. */
export function throwsConfig(fn, TokenError) {
  let error;
  try {
    fn();
  } catch (err) {
    error = err;
  }
  assert.ok(error !== undefined, 'expected the constructor to throw');
  assert.ok(error instanceof TokenError, `expected a TokenError, got ${inspect(error)}`);
  assert.equal(error.code, 'config', `code (message: ${error.message})`);
  assert.equal(typeof error.message, 'string');
  return error;
}

/** Every textual rendering of an error a caller might log. */
export function renderings(error) {
  return [
    String(error),
    String(error?.message),
    String(error?.stack),
    String(error?.description),
    JSON.stringify(error),
    inspect(error, { depth: 5 }),
  ];
}

/** Asserts none of `secrets` occurs in any rendering of `error` (and of `stats`). */
export function assertNoLeak({ error, stats, secrets }) {
  const texts = [];
  if (error !== undefined) texts.push(...renderings(error));
  if (stats !== undefined) texts.push(JSON.stringify(stats), inspect(stats));
  for (const secret of secrets) {
    assert.ok(secret && secret.length >= 6, 'a secret worth searching for');
    for (const text of texts) {
      assert.ok(!text.includes(secret), `a secret leaked into: ${text.slice(0, 300)}`);
    }
  }
}

/** A fetch that counts its calls (and their send times) and forwards to the global fetch. */
export function countingFetch(inner = globalThis.fetch) {
  const calls = [];
  const fetchFn = (input, init) => {
    calls.push({ url: String(input instanceof Request ? input.url : input), init, at: Date.now() });
    return inner(input, init);
  };
  return { fetch: fetchFn, calls };
}

/** Waits until `predicate()` is true, polling every 10 ms, or fails after `timeoutMs`. */
export async function waitFor(predicate, timeoutMs = 2000, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
