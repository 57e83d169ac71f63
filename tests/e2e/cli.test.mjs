// The `edge-oauth` command (pkg/cli.js, the npm package's bin) against the real oidc-provider
// on 127.0.0.1: `token` prints a token and nothing else, `device --json` prints the token's
// info once the test approves the user code it shows, a wrong secret exits 1 with the error's
// code and no secret, a wrong command line exits 2.
// Run: node --test tests/e2e/cli.test.mjs
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { CLIENTS, startAuthServer } from '../support/auth-server.mjs';

const CLI = fileURLToPath(new URL('../../pkg/cli.js', import.meta.url));
const WRONG_SECRET = 'cli-wrong-secret-Qz07';

let auth;

before(async () => {
  auth = await startAuthServer();
});

after(async () => {
  await auth?.close();
});

/** Runs the command; `onStderr(text)` sees stderr as it comes. */
function run(args, { env = {}, onStderr } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      onStderr?.(stderr);
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const basic = CLIENTS.basic;

describe('edge-oauth token', () => {
  it('prints an access token and nothing else (secret from the environment)', async () => {
    const { code, stdout, stderr } = await run(
      ['token', '--issuer', auth.issuer, '--client-id', basic.clientId, '--scope', 'api:read'],
      { env: { EDGE_OAUTH_CLIENT_SECRET: basic.clientSecret } },
    );
    assert.equal(code, 0, stderr);
    assert.equal(stderr, '');
    assert.match(stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, 'one JWT and a line break');
    assert.equal(auth.tokenRequests >= 1, true);
  });

  it('reads the secret from --client-secret-file and prints JSON with --json', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-oauth-cli-'));
    const file = join(dir, 'secret');
    writeFileSync(file, `${CLIENTS.post.clientSecret}\n`, { mode: 0o600 });
    const { code, stdout, stderr } = await run([
      'token', '--token-url', auth.tokenUrl, '--client-id', CLIENTS.post.clientId,
      '--auth-method', 'client_secret_post', '--client-secret-file', file, '--json',
    ]);
    assert.equal(code, 0, stderr);
    const info = JSON.parse(stdout);
    assert.equal(typeof info.accessToken, 'string');
    assert.equal(info.tokenType, 'Bearer');
    assert.ok(info.expiresAt > Date.now());
  });

  it('a wrong secret exits 1 with the error code on stderr, never the secret', async () => {
    const { code, stdout, stderr } = await run(
      ['token', '--token-url', auth.tokenUrl, '--client-id', basic.clientId],
      { env: { EDGE_OAUTH_CLIENT_SECRET: WRONG_SECRET } },
    );
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.match(stderr, /^edge-oauth: invalid_client: /);
    assert.equal(stderr.trim().split('\n').length, 1, 'one line');
    assert.ok(!stderr.includes(WRONG_SECRET), stderr);
  });

  // (case, arguments, what stderr says)
  const usage = [
    ['an unknown flag', ['token', '--bogus'], /Unknown option '--bogus'/],
    ['a flag without its value', ['token', '--token-url'], /argument missing/],
    ['no command', [], /a command is required/],
    ['an unknown command', ['refresh'], /unknown command: use token or device/],
    ['an argument after the command, never quoted', ['token', 'cli-secret-as-argument'], /^edge-oauth: unexpected argument after the command/],
    ['a number flag that is not one', ['token', '--timeout-ms', 'soon'], /--timeout-ms must be a number/],
    ['a configuration the client refuses', ['token', '--client-id', 'x'], /^edge-oauth: config: invalid configuration: /],
  ];
  for (const [name, args, message] of usage) {
    it(`exits 2 with one line for ${name}`, async () => {
      const { code, stdout, stderr } = await run(args);
      assert.equal(code, 2, stderr);
      assert.equal(stdout, '');
      assert.match(stderr, message);
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
      assert.ok(!stderr.includes('cli-secret-as-argument') && !stderr.includes('refresh'), stderr);
    });
  }

  it('--help lists the flags, named after the options', async () => {
    const { code, stdout } = await run(['--help']);
    assert.equal(code, 0);
    for (const flag of ['--token-url', '--issuer', '--keycloak-base-url', '--realm', '--client-id', '--scope', '--auth-method', '--client-secret-file', '--json']) {
      assert.ok(stdout.includes(flag), flag);
    }
    assert.ok(!stdout.includes('--client-secret '), 'no secret flag');
    for (const command of ['token', 'device']) {
      const sub = await run([command, '--help']);
      assert.equal(sub.code, 0);
      assert.match(sub.stdout, new RegExp(`^usage: edge-oauth ${command}`));
    }
  });
});

describe('edge-oauth device', () => {
  it('shows the code on stderr, and prints the token info as JSON once the user approves', async () => {
    let approved = false;
    const result = await run(
      ['device', '--issuer', auth.issuer, '--client-id', CLIENTS.device.clientId, '--scope', 'openid offline_access api:read', '--json'],
      {
        onStderr: (text) => {
          const code = text.match(/enter the code (\S+)/)?.[1];
          if (code && !approved) {
            approved = true;
            auth.approveDeviceCode(code).catch(() => {});
          }
        },
      },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.ok(approved, 'the code was shown');
    assert.match(result.stderr, /open http:\/\/127\.0\.0\.1:\d+\/\S+ and enter the code /);
    const info = JSON.parse(result.stdout);
    assert.equal(typeof info.accessToken, 'string');
    assert.ok(info.expiresAt > Date.now());
    // The device code never reaches the terminal.
    const deviceCode = auth.deviceAuthorizations.at(-1)?.deviceCode;
    assert.ok(deviceCode);
    assert.ok(!result.stderr.includes(deviceCode) && !result.stdout.includes(deviceCode));
  });
});
