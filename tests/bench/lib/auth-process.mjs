// The benchmark's authorization server: tests/support/auth-server.mjs (a real oidc-provider on
// 127.0.0.1) in a process of its own, so that signing tokens never blocks the event loop of
// the clients being measured. Driven over IPC by auth.mjs: it registers the bench clients,
// sets the access token lifetime and answers the token requests it counted per client id.

import { startAuthServer } from '../../support/auth-server.mjs';

const extraClients = JSON.parse(process.argv[2] ?? '[]');
const server = await startAuthServer({ port: 0, extraClients });

function countsByClient() {
  const counts = {};
  for (const entry of server.requests) {
    const id = entry.clientId ?? '(none)';
    counts[id] = (counts[id] ?? 0) + 1;
  }
  return counts;
}

process.on('message', async ({ id, cmd, arg }) => {
  let result;
  try {
    switch (cmd) {
      case 'ttl':
        server.setAccessTokenTtl(arg);
        break;
      case 'counts':
        // `total` counts every POST to the token endpoint as it arrives, before any check.
        result = { total: server.tokenRequests, byClient: countsByClient(), errors: server.serverErrors.length };
        break;
      case 'reset':
        server.resetCounts();
        break;
      case 'close':
        await server.close();
        process.send({ id, result: null }, () => process.exit(0));
        return;
      default:
        throw new Error(`unknown command ${cmd}`);
    }
    process.send({ id, result });
  } catch (err) {
    process.send({ id, error: String(err?.stack ?? err) });
  }
});
process.on('disconnect', () => process.exit(0));

process.send({ ready: true, issuer: server.issuer, tokenUrl: server.tokenUrl, tokenPath: server.tokenPath });
