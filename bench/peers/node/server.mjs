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

function usage(message) {
  process.stderr.write(`node-peer: ${message}\n` +
    'usage: server.mjs [--host H] [--port P] [--path /socket.io/] [--ping-interval MS] ' +
    '[--ping-timeout MS] [--max-payload BYTES] [--allow-eio3] [--redis URL] [--cors]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    host: '127.0.0.1',
    port: 3000,
    path: '/socket.io/',
    pingInterval: 25000,
    pingTimeout: 20000,
    maxPayload: 1000000,
    allowEIO3: false,
  };
  const number = (name, value) => {
    const n = Number(value);
    if (value === undefined || value === '' || !Number.isInteger(n) || n < 0) usage(`${name} wants a number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const take = () => (value !== undefined ? value : argv[++i]);
    switch (arg) {
      case '--host': opts.host = take(); break;
      case '--port': opts.port = number(arg, take()); break;
      case '--path': opts.path = take(); break;
      case '--ping-interval': opts.pingInterval = number(arg, take()); break;
      case '--ping-timeout': opts.pingTimeout = number(arg, take()); break;
      case '--max-payload': opts.maxPayload = number(arg, take()); break;
      case '--allow-eio3': opts.allowEIO3 = true; break;
      case '--redis':
        process.stderr.write(`node-peer: note: --redis ${take()} is ignored (in-memory adapter)\n`);
        break;
      case '--cors': process.stderr.write('node-peer: note: --cors is ignored\n'); break;
      default: usage(`unknown argument ${JSON.stringify(argv[i])}`);
    }
  }
  if (!opts.host) usage('--host wants a value');
  if (!opts.path || !opts.path.startsWith('/')) usage('--path must start with /');
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

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

const lastIsAck = (args) => args.length > 0 && typeof args[args.length - 1] === 'function';

const root = io.of('/');
root.on('connection', (socket) => {
  socket.emit('auth', socket.handshake.auth);

  socket.on('message', (...args) => {
    socket.emit('message-back', ...args);
  });

  socket.on('message-with-ack', (...args) => {
    if (lastIsAck(args)) args.pop()(...args);
  });

  socket.on('echo', (...args) => {
    if (lastIsAck(args)) args.pop()(...args);
    else socket.emit('echo', ...args);
  });

  socket.on('broadcast', (...args) => {
    root.emit('broadcast', ...args);
  });

  socket.on('count', (ack) => {
    if (typeof ack === 'function') ack(root.sockets.size);
  });
});

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
