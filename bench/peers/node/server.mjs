#!/usr/bin/env node
// Node reference peer for the sio benchmarks: namespace `/` of the contract server
// (shared/contract.md) as far as the benchmarks use it, on socket.io 4.8.4 with its default
// `ws` engine. The handlers are those of tests/js/reference/contract-server.mjs, trimmed to
// what the other peers implement too (no /engine.io/, /custom, /admin, dynamic namespaces,
// rooms or `ask`), so that every peer serves the same thing.
//
//   node server.mjs [--host 127.0.0.1] [--port 3000] [--path /socket.io/] [--ping-interval MS]
//       [--ping-timeout MS] [--max-payload BYTES] [--allow-eio3] [--redis URL (ignored)] [--cors (ignored)]
//       [--tls-cert FILE --tls-key FILE] [--per-message-deflate]
//
// --tls-cert/--tls-key (PEM) serve HTTPS/WSS only (node:https); --per-message-deflate is
// `perMessageDeflate: { threshold: 1024 }` (the contract's flags, shared/contract.md; taken here
// so that tests/js/reference's parser stays as it is).
//
// Prints `listening on http://HOST:PORT` (https:// with TLS) once ready (--port 0 picks a free port) and exits 0 on
// SIGTERM/SIGINT after closing every connection.

import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { Server } from 'socket.io';
import { addBenchmarkHandlers, parseContractArgs } from '../../../tests/js/reference/cli.mjs';

// The flags of issue 16 first; the rest is the contract's common command line.
const rest = [];
let tlsCert = null;
let tlsKey = null;
let perMessageDeflate = false;
for (let i = 2; i < process.argv.length; i++) {
  const arg = process.argv[i];
  const eq = arg.indexOf('=');
  const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
  const value = () => (eq > 0 && name !== arg ? arg.slice(eq + 1) : process.argv[++i]);
  if (name === '--tls-cert') tlsCert = value();
  else if (name === '--tls-key') tlsKey = value();
  else if (arg === '--per-message-deflate') perMessageDeflate = true;
  else rest.push(arg);
}
if (!tlsCert !== !tlsKey) {
  process.stderr.write('node-peer: --tls-cert and --tls-key go together\n');
  process.exit(2);
}
const opts = parseContractArgs(rest, 'node-peer');
if (opts.redis) process.stderr.write(`node-peer: note: --redis ${opts.redis} is ignored (in-memory adapter)\n`);
if (opts.cors) process.stderr.write('node-peer: note: --cors is ignored\n');
if (opts.parser) process.stderr.write(`node-peer: note: --parser ${opts.parser} is ignored (JSON)\n`);

const notFound = (req, res) => {
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('Not Found');
};
const httpServer = tlsCert
  ? https.createServer({ cert: fs.readFileSync(tlsCert), key: fs.readFileSync(tlsKey) }, notFound)
  : http.createServer(notFound);

const io = new Server(httpServer, {
  pingInterval: opts.pingInterval,
  pingTimeout: opts.pingTimeout,
  maxHttpBufferSize: opts.maxPayload,
  allowEIO3: opts.allowEIO3,
  path: opts.path,
  serveClient: false,
  connectTimeout: 1000,
  perMessageDeflate: perMessageDeflate ? { threshold: 1024 } : false,
});

const root = io.of('/');
root.on('connection', (socket) => addBenchmarkHandlers(root, socket));

httpServer.listen(opts.port, opts.host, () => {
  const { port } = httpServer.address();
  process.stdout.write(`listening on ${tlsCert ? 'https' : 'http'}://${opts.host}:${port}\n`);
});
httpServer.on('error', (err) => {
  process.stderr.write(`node-peer: ${err.message}\n`);
  process.exit(1);
});

let stopping = false;
function shutdown() {
  if (stopping) return;
  stopping = true;
  setTimeout(() => process.exit(0), 3000).unref();
  io.close().then(() => process.exit(0));
  setTimeout(() => httpServer.closeAllConnections(), 50).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
