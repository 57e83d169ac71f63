// A reverse proxy on http://127.0.0.1:PORT in front of another test server that forwards each
// request at once but can hold the answer back: the upstream has already done its work
// (say, rotated a refresh token) while the client is still waiting, as with a slow network.
//
//   const proxy = await startHoldingProxy(server.url);
//   proxy.hold(300);   // answers reach the client 300 ms after the upstream gave them
//   proxy.url          // use instead of server.url
//   await proxy.close();

import http from 'node:http';

import { closer, listen } from './loopback.mjs';

export async function startHoldingProxy(upstream) {
  let holdMs = 0;
  const timers = new Set();
  const server = http.createServer(async (req, res) => {
    try {
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      const headers = { ...req.headers };
      delete headers.host;
      delete headers.connection;
      delete headers['content-length'];
      const answer = await fetch(new URL(req.url, upstream), {
        method: req.method,
        headers,
        body: chunks.length ? Buffer.concat(chunks) : undefined,
        redirect: 'manual',
      });
      const body = Buffer.from(await answer.arrayBuffer());
      const send = () => {
        if (res.destroyed) return;
        const out = {};
        answer.headers.forEach((value, name) => {
          if (!['content-length', 'transfer-encoding', 'connection', 'keep-alive'].includes(name)) out[name] = value;
        });
        res.writeHead(answer.status, { ...out, 'content-length': body.length });
        res.end(body);
      };
      if (holdMs > 0) {
        const timer = setTimeout(() => {
          timers.delete(timer);
          send();
        }, holdMs);
        timers.add(timer);
      } else {
        send();
      }
    } catch (err) {
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(String(err));
      } else {
        res.destroy();
      }
    }
  });
  const { url } = await listen(server, 0);
  return {
    url,
    /** Hold every answer back this long (0: pass it on at once). */
    hold(ms) {
      holdMs = ms;
    },
    close: closer(server, timers),
  };
}
