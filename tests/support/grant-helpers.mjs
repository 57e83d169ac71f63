// Helpers for the grant, fetch and secret-leak suites (grants/fetch/secrets.test.mjs).
import assert from 'node:assert/strict';
import { inspect } from 'node:util';

import { startInfoLinkServer } from './infolink-server.mjs';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sleeps until the wall clock reaches `at` (ms since the epoch). */
export const sleepUntil = (at) => sleep(Math.max(0, at - Date.now()));

/**
 * A `fetch` for TokenClient's `fetch` option that passes everything to the real one and
 * records, in order, what went out and what came back: every request (url, method, headers,
 * body text), and every access and refresh token found in a JSON response.
 * `events` interleaves { type: 'sent', refreshToken? } and { type: 'issued', refreshToken? }.
 */
export function tapFetch(base = globalThis.fetch) {
  const tap = {
    requests: [],
    accessTokens: [],
    refreshTokens: [],
    events: [],
    calls: 0,
  };
  tap.fetch = async (input, init) => {
    tap.calls += 1;
    const request = new Request(input, init);
    const body = request.body === null ? '' : await request.clone().text();
    const sentRefreshToken = new URLSearchParams(body).get('refresh_token') ?? undefined;
    tap.requests.push({
      url: request.url,
      method: request.method,
      headers: Object.fromEntries(request.headers),
      body,
    });
    tap.events.push({ type: 'sent', url: request.url, refreshToken: sentRefreshToken });
    const response = await base(request);
    const type = response.headers.get('content-type') ?? '';
    if (type.includes('json')) {
      try {
        const json = await response.clone().json();
        if (typeof json?.access_token === 'string') tap.accessTokens.push(json.access_token);
        if (typeof json?.refresh_token === 'string') tap.refreshTokens.push(json.refresh_token);
        if (typeof json?.access_token === 'string') {
          tap.events.push({ type: 'issued', url: request.url, refreshToken: json.refresh_token });
        }
      } catch {
        // not JSON after all
      }
    }
    return response;
  };
  return tap;
}

/** Awaits `promise`, asserts it rejects with a TokenError of `code`, returns the error. */
export async function rejectsWithCode(promise, TokenError, code, fields = {}) {
  let error;
  try {
    const value = await promise;
    assert.fail(`expected a TokenError with code '${code}', got ${inspect(value)}`);
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    error = err;
  }
  assert.ok(error instanceof TokenError, `expected a TokenError, got ${inspect(error)}`);
  assert.equal(error.name, 'TokenError');
  assert.equal(error.code, code, `code (message: ${error.message})`);
  for (const [name, value] of Object.entries(fields)) {
    assert.deepEqual(error[name], value, `error.${name}`);
  }
  return error;
}

/**
 * Restarts an InfoLink fixture on the same port with new options: what a real server looks
 * like after a restart (every token it issued is forgotten) or a credential change.
 */
export async function restartInfoLink(server, options = {}) {
  await server.close();
  return startInfoLinkServer({ ...options, port: server.port });
}

/** Grant types of the token requests an InfoLink fixture has seen, with their statuses. */
export const grantLog = (server) => server.requests.map((r) => `${r.grantType}:${r.status}`);
