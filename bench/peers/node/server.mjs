#!/usr/bin/env node
// Node reference peer for the sio benchmarks: namespace `/` of the contract server
// (shared/contract.md) as far as the benchmarks use it, on socket.io 4.8.4 with its default
// `ws` engine. The handlers are those of tests/js/reference/contract-server.mjs, trimmed to
// what the other peers implement too (no /engine.io/, /custom, /admin, dynamic namespaces,
// rooms or `ask`), so that every peer serves the same thing.
//
//   node server.mjs [--host 127.0.0.1] [--port 3000] [--path /socket.io/] [--ping-interval MS]
//       [--ping-timeout MS] [--max-payload BYTES] [--allow-eio3] [--redis URL (ignored)] [--cors (ignored)]
//
// Prints `listening on http://HOST:PORT` once ready (--port 0 picks a free port) and exits 0 on
// SIGTERM/SIGINT after closing every connection.

import http from 'node:http';
import { Server } from 'socket.io';
import { addBenchmarkHandlers, parseContractArgs } from '../../../tests/js/reference/cli.mjs';

const opts = parseContractArgs(process.argv.slice(2), 'node-peer');
if (opts.redis) process.stderr.write(`node-peer: note: --redis ${opts.redis} is ignored (in-memory adapter)\n`);
if (opts.cors) process.stderr.write('node-peer: note: --cors is ignored\n');

const httpServer = http.createServer((req, res) => {
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('Not Found');
});

const io = new Server(httpServer, {
  pingInterval: opts.pingInterval,
  pingTimeout: opts.pingTimeout,
  maxHttpBufferSize: opts.maxPayload,
  allowEIO3: opts.allowEIO3,
  path: opts.path,
  serveClient: false,
  connectTimeout: 1000,
});

const root = io.of('/');
root.on('connection', (socket) => addBenchmarkHandlers(root, socket));

httpServer.listen(opts.port, opts.host, () => {
  const { port } = httpServer.address();
  process.stdout.write(`listening on http://${opts.host}:${port}\n`);
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
