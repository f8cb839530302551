#!/usr/bin/env node
// The reference contract server: the behaviour of shared/contract.md built on
// the real Node packages (socket.io 4.8 and engine.io 6.6), so that the JS
// tests can be checked against the implementation every client was written
// for, and so that benchmarks can run the C server and this one side by side.
//
//   node tests/js/reference/contract-server.mjs [--host 127.0.0.1] [--port 3000]
//       [--path /socket.io/] [--ping-interval MS] [--ping-timeout MS]
//       [--max-payload BYTES] [--allow-eio3] [--cors ORIGINS] [--redis URL] [--cookie NAME]
//       [--redis-mode classic|sharded|streams] [--per-message-deflate]
//
// With --redis URL the server is a cluster node, and `count` is fetchSockets().length,
// cluster-wide. --redis-mode picks the adapter (npm redis 4.7 clients, default options):
//   classic   @socket.io/redis-adapter 8.3's createAdapter (key "socket.io")
//   sharded   its createShardedAdapter (channelPrefix "socket.io", subscriptionMode "dynamic";
//             SPUBLISH / SSUBSCRIBE through the redis client's sPublish / sSubscribe)
//   streams   @socket.io/redis-streams-adapter 0.3.1's createAdapter (stream "socket.io")
//
// Prints `listening on http://HOST:PORT` once ready (--port 0 picks a free
// port) and exits 0 on SIGTERM/SIGINT after closing every connection.
// Keep it plain: no behaviour of its own beyond what the contract says.

import http from 'node:http';
import { Server } from 'socket.io';
import { addBenchmarkHandlers, lastIsAck, parseContractArgs } from './cli.mjs';
import { attach as attachEngine } from 'engine.io';

const opts = parseContractArgs(process.argv.slice(2), 'contract-server');
let redisClients = [];
let adapter;
if (opts.redis) {
  // Loaded only with --redis, so that the plain reference needs neither package.
  const { createClient } = await import('redis');
  const pubClient = createClient({ url: opts.redis });
  const subClient = pubClient.duplicate();
  for (const c of [pubClient, subClient]) c.on('error', (err) => process.stderr.write(`redis: ${err.message}\n`));
  // The adapters drop the promise of every PUBLISH (SPUBLISH, SET) they send: one in flight when
  // Redis goes away would reject with nobody to catch it and end the process (Node's default for
  // unhandled rejections). A Node node that must outlive a Redis outage needs this guard.
  for (const name of ['publish', 'sPublish', 'set']) {
    const send = pubClient[name].bind(pubClient);
    pubClient[name] = (...args) => send(...args).catch((err) => {
      process.stderr.write(`redis: ${name.toUpperCase()} failed: ${err.message}\n`);
    });
  }
  if (opts.redisMode === 'streams') {
    // One client: the adapter duplicates it for its XREAD loop and its subscriptions.
    const { createAdapter } = await import('@socket.io/redis-streams-adapter');
    await pubClient.connect();
    redisClients = [pubClient];
    adapter = createAdapter(pubClient);
  } else {
    const { createAdapter, createShardedAdapter } = await import('@socket.io/redis-adapter');
    await Promise.all([pubClient.connect(), subClient.connect()]);
    redisClients = [pubClient, subClient];
    adapter = opts.redisMode === 'sharded' ? createShardedAdapter(pubClient, subClient) : createAdapter(pubClient, subClient);
  }
}

const engineOptions = {
  pingInterval: opts.pingInterval,
  pingTimeout: opts.pingTimeout,
  maxHttpBufferSize: opts.maxPayload,
  allowEIO3: opts.allowEIO3,
  // engine.io's cookie option: the polling handshake sets NAME=<sid> with its defaults
  ...(opts.cookie ? { cookie: { name: opts.cookie } } : {}),
  // --per-message-deflate: the contract's exact setting
  ...(opts.perMessageDeflate ? { perMessageDeflate: { threshold: 1024 } } : {}),
  // --cors: the CORS headers, and a handshake from another Origin refused with 403 (allowRequest:
  // Node checks handshakes only, not the requests of an open session)
  ...(opts.cors ? corsOptions(opts.cors) : {}),
};

function corsOptions(cors) {
  const list = cors === '*' ? null : cors.split(',').map((o) => o.trim());
  return {
    cors: { origin: list || '*' },
    allowRequest: (req, cb) => cb(null, !req.headers.origin || !list || list.includes(req.headers.origin)),
  };
}

// Anything that neither engine claims.
const httpServer = http.createServer((req, res) => {
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('Not Found');
});

// ------------------------------------------------------------ Socket.IO
const io = new Server(httpServer, {
  ...engineOptions,
  path: opts.path,
  serveClient: false,
  connectTimeout: 1000,
  ...(adapter ? { adapter } : {}),
  ...(opts.recovery !== null
    ? { connectionStateRecovery: { maxDisconnectionDuration: opts.recovery, skipMiddlewares: true } }
    : {}),
  ...(opts.parser === 'msgpack' ? { parser: (await import('socket.io-msgpack-parser')).default } : {}),
});

const sortedRooms = (socket) => [...socket.rooms].sort();

const root = io.of('/');
root.on('connection', (socket) => {
  addBenchmarkHandlers(root, socket,
    opts.redis ? async () => (await root.fetchSockets()).length : null);

  socket.on('join', async (room, ack) => {
    await socket.join(room);
    if (typeof ack === 'function') ack(sortedRooms(socket));
  });

  socket.on('leave', async (room, ack) => {
    await socket.leave(room);
    if (typeof ack === 'function') ack(sortedRooms(socket));
  });

  socket.on('to-room', (room, ...args) => {
    root.to(room).emit('room-message', room, ...args);
  });

  socket.on('to-room-others', (room, ...args) => {
    socket.to(room).emit('room-message', room, ...args);
  });

  socket.on('ask', (event, ...args) => {
    if (!lastIsAck(args)) return;
    const ack = args.pop();
    socket.timeout(1000).emit(event, ...args, (err, ...answer) => {
      ack(err ? { ok: false, error: 'timeout' } : { ok: true, args: answer });
    });
  });

  socket.on('disconnect-me', () => {
    socket.disconnect();
  });

  // sio's cluster events (examples/contract/README.md).
  const outcome = (err, responses) => (err
    ? { ok: false, error: /time/.test(err.message) ? 'timeout' : err.message, responses: responses || [] }
    : { ok: true, responses });
  socket.on('server-emit', (...args) => {
    if (!lastIsAck(args)) return;
    const ack = args.pop();
    try {
      root.serverSideEmit('server-event', ...args, (err, responses) => ack(outcome(err, responses)));
    } catch (err) {
      ack(outcome(err, []));
    }
  });
  socket.on('server-emit-noack', (...args) => {
    try { root.serverSideEmit('server-event', ...args); } catch { /* no cluster */ }
  });
  socket.on('all-rooms', async (ack) => {
    const rooms = await root.adapter.allRooms();
    if (typeof ack === 'function') ack([...rooms].sort());
  });
  socket.on('fetch-sockets', async (ack) => {
    const sockets = await root.fetchSockets();
    if (typeof ack !== 'function') return;
    ack(sockets.map((s) => ({ id: s.id, rooms: [...s.rooms].sort(), address: s.handshake.address, auth: s.handshake.auth }))
      .sort((x, y) => (x.id < y.id ? -1 : 1)));
  });
  socket.on('sockets-join', (target, room, ack) => {
    root.in(target).socketsJoin(room);
    if (typeof ack === 'function') ack(true);
  });
  socket.on('sockets-leave', (target, room, ack) => {
    root.in(target).socketsLeave(room);
    if (typeof ack === 'function') ack(true);
  });
  socket.on('disconnect-sockets', (target, ack) => {
    if (typeof ack === 'function') ack(true);
    root.in(target).disconnectSockets();
  });
  socket.on('broadcast-ack', (...args) => {
    if (!lastIsAck(args)) return;
    const ack = args.pop();
    root.timeout(1000).emit('ack-me', ...args, (err, responses) => {
      const sorted = [...responses].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
      ack(outcome(err, sorted));
    });
  });
});

// Another node's serverSideEmit('server-event', ...args[, ack]).
root.on('server-event', (...args) => {
  const ack = lastIsAck(args) ? args.pop() : null;
  root.local.emit('server-event', ...args);
  if (ack) ack({ port: httpServer.address().port, args });
});

io.of('/custom').on('connection', (socket) => {
  socket.emit('auth', socket.handshake.auth);
});

if (opts.admin) {
  // Loaded only with --admin; the contract's flag table: /admin-ui, development, stats every 2 s.
  const { instrument } = await import('@socket.io/admin-ui');
  instrument(io, {
    namespaceName: '/admin-ui',
    mode: 'development',
    auth: opts.adminAuth ? { type: 'basic', ...opts.adminAuth } : false,
  });
}

const admin = io.of('/admin');
admin.use((socket, next) => {
  const auth = socket.handshake.auth;
  if (auth && auth.token === 'secret') next();
  else next(new Error('unauthorized'));
});
admin.on('connection', (socket) => {
  socket.emit('welcome', socket.id);
});

io.of(/^\/dyn-[a-z0-9]+$/).on('connection', (socket) => {
  socket.emit('nsp', socket.nsp.name);
});

// ------------------------------------------------- bare Engine.IO echo
const engine = attachEngine(httpServer, { ...engineOptions, path: '/engine.io/' });
engine.on('connection', (socket) => {
  // text arrives as a string, binary as a Buffer; send() keeps the kind
  socket.on('message', (data) => socket.send(data));
});

// ---------------------------------------------------------------- run
httpServer.listen(opts.port, opts.host, () => {
  const { port } = httpServer.address();
  process.stdout.write(`listening on http://${opts.host}:${port}\n`);
});
httpServer.on('error', (err) => {
  process.stderr.write(`contract-server: ${err.message}\n`);
  process.exit(1);
});

let stopping = false;
function shutdown() {
  if (stopping) return;
  stopping = true;
  // a last resort if some connection does not let go
  setTimeout(() => process.exit(0), 3000).unref();
  engine.close();
  // closes every Socket.IO session, its engine and the HTTP server
  io.close()
    .then(() => Promise.all(redisClients.map((c) => c.quit().catch(() => {}))))
    .then(() => process.exit(0));
  // keep-alive connections that would hold the HTTP server open
  setTimeout(() => httpServer.closeAllConnections(), 50).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
