#!/usr/bin/env node
// `edge-oauth`: an access token in a shell. `token` runs the configured grant (client
// credentials), `device` the device flow (RFC 8628) for a user. Flags are the TokenClient's
// options in kebab case, from the same table (option-table.js); the client secret comes from
// the environment or a file, never from an argument (arguments show in `ps`).
// Exit codes: 0 a token on stdout; 1 no token (the TokenError's code and message on stderr);
// 2 a wrong command line or configuration.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { OPTIONS } from './option-table.js';
import { TokenClient } from './node.js';

const SECRET_ENV = 'EDGE_OAUTH_CLIENT_SECRET';

/** The options a flag can set: text, number and flag kinds, outside the grant. */
const FLAGS = Object.entries(OPTIONS)
  .filter(([path, type]) => ['text', 'number', 'flag', 'scopes'].includes(type) && !path.startsWith('grant.') && path !== 'clientSecret')
  .map(([path, type]) => ({ path, type, flag: path.replace('.', '-').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`) }));

const PARSE = {
  options: {
    ...Object.fromEntries(FLAGS.map(({ flag, type }) => [flag, { type: type === 'flag' ? 'boolean' : 'string', multiple: type === 'scopes' }])),
    realm: { type: 'string' },
    'extra-param': { type: 'string', multiple: true },
    'client-secret-file': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
  allowPositionals: true,
  strict: true,
};

const USAGE = `usage: edge-oauth <command> [flags]

commands:
  token    print an access token for the client (client credentials)
  device   sign a user in with the device flow (RFC 8628), then print the access token

flags (the TokenClient options; see the README):
${FLAGS.map(({ flag, type }) => `  --${flag}${type === 'flag' ? '' : ' <value>'}`).join('\n')}
  --realm <value>                 the same as --keycloak-realm
  --extra-param <name=value>      an extra form parameter (repeatable)
  --client-secret-file <path>     read the client secret from this file
  --json                          print { accessToken, tokenType, expiresAt, scope } instead
  -h, --help                      this text

The client secret comes from ${SECRET_ENV} or --client-secret-file, never from an argument.
Exit codes: 0 token printed, 1 no token (the error's code and message on stderr), 2 usage.`;

const HELP = {
  token: `usage: edge-oauth token --token-url <url> | --issuer <url> | --keycloak-base-url <url> --realm <realm>
                      --client-id <id> [--scope <scope>] [--auth-method <method>] [--json] [flags]
Prints an access token (client credentials) to stdout. See edge-oauth --help for every flag.`,
  device: `usage: edge-oauth device --issuer <url> | --keycloak-base-url <url> --realm <realm> | --token-url <url> --device-authorization-url <url>
                       --client-id <id> [--scope <scope>] [--json] [flags]
Shows a code and where to enter it on stderr, waits for the user's approval, then prints the
access token to stdout. See edge-oauth --help for every flag.`,
};

class UsageError extends Error {}

/** The TokenClient options from the parsed flags and the environment. */
function clientOptions(values, grant) {
  const options = { grant: { type: grant } };
  for (const { path, type, flag } of FLAGS) {
    let value = values[flag];
    if (value === undefined) continue;
    if (type === 'number') {
      if (!/^\s*\d+(\.\d+)?\s*$/.test(value)) throw new UsageError(`--${flag} must be a number`);
      value = Number(value);
    }
    if (type === 'scopes') value = value.flatMap((s) => s.split(/\s+/)).filter(Boolean);
    const [group, field] = path.split('.');
    if (field === undefined) options[group] = value;
    else options[group] = { ...options[group], [field]: value };
  }
  if (values.realm !== undefined) options.keycloak = { ...options.keycloak, realm: values.realm };
  if (values['extra-param']) {
    options.extraParams = Object.fromEntries(values['extra-param'].map((pair) => {
      const at = pair.indexOf('=');
      if (at < 1) throw new UsageError('--extra-param takes name=value');
      return [pair.slice(0, at), pair.slice(at + 1)];
    }));
  }
  const secret = values['client-secret-file'] !== undefined
    ? readSecretFile(values['client-secret-file'])
    : process.env[SECRET_ENV];
  if (secret) options.clientSecret = secret.replace(/\r?\n$/, '');
  // Without a secret, the device flow is a public client's.
  else if (grant === 'device_code' && options.authMethod === undefined) options.authMethod = 'none';
  return options;
}

function readSecretFile(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`--client-secret-file: cannot read it (${error.code ?? 'error'})`);
  }
}

const printToken = async (client, token, json) => {
  if (!json) return `${token}\n`;
  const { accessToken, tokenType, expiresAt, scope } = await client.getTokenInfo();
  return `${JSON.stringify({ accessToken, tokenType, expiresAt, scope })}\n`;
};

async function main(argv) {
  let parsed;
  try {
    parsed = parseArgs({ ...PARSE, args: argv });
  } catch (error) {
    // parseArgs names the flag, never its value; its advice on '--' is cut.
    throw new UsageError(error.message.split('\n')[0].split('. To specify')[0]);
  }
  const { values, positionals } = parsed;
  const [command, ...extra] = positionals;
  if (command === undefined || (values.help && !HELP[command])) {
    if (!values.help) throw new UsageError('a command is required: token or device (edge-oauth --help)');
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  // Neither quotes what it refuses: a mistyped argument may be a secret.
  if (!HELP[command]) throw new UsageError('unknown command: use token or device');
  if (extra.length) throw new UsageError('unexpected argument after the command (the client secret comes from the environment or --client-secret-file)');
  if (values.help) {
    process.stdout.write(`${HELP[command]}\n`);
    return 0;
  }
  const client = new TokenClient(clientOptions(values, command === 'device' ? 'device_code' : 'client_credentials'));
  let token;
  if (command === 'token') {
    token = await client.getToken();
  } else {
    const authorization = await client.startDeviceAuthorization();
    const complete = authorization.verificationUriComplete ? `\n(or open ${authorization.verificationUriComplete})` : '';
    process.stderr.write(`To sign in, open ${authorization.verificationUri} and enter the code ${authorization.userCode}${complete}\n`);
    token = await authorization.waitForToken();
  }
  process.stdout.write(await printToken(client, token, values.json));
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    const usage = error instanceof UsageError || error?.code === 'config';
    const text = error instanceof UsageError ? error.message : `${error?.code ?? 'error'}: ${error?.message ?? error}`;
    process.stderr.write(`edge-oauth: ${text}\n`);
    process.exit(usage ? 2 : 1);
  },
);
