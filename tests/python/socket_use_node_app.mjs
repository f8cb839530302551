// The app of test_socket_use.py / tests/lua/socket_use_spec.lua on Node's socket.io 4.8 (the
// reference), for socket_use_client.mjs: shows what Node does with the same events (a middleware's
// error reaches the client as nothing, the catch-alls see refused events and broadcasts).
//   node tests/python/socket_use_node_app.mjs   (prints "port N", serves until killed)
import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../js/package.json', import.meta.url));
const { Server } = require('socket.io');

const httpServer = http.createServer();
const io = new Server(httpServer);
io.on('connection', (socket) => {
  const logAny = [];
  const logOut = [];
  socket.onAny((event) => logAny.push('a:' + event));
  socket.prependAny((event) => logAny.push('p:' + event));
  socket.onAnyOutgoing((event) => logOut.push(event));
  socket.use((packet, next) => {
    const event = packet[0];
    if (event === 'deny') next(new Error('denied'));
    else if (event === 'guarded') {
      packet[packet.length - 1]({ error: 'no' });
      next(new Error('guarded'));
    } else if (event === 'mod') {
      packet[1] *= 10;
      next();
    } else if (event === 'slow') setTimeout(next, 50);
    else next();
  });
  socket.on('error', (err) => socket.emit('err', err.message));
  // Node's listeners answer through the callback: the first call wins
  socket.on('multi', () => {});
  socket.on('multi', (cb) => cb('two'));
  socket.on('multi', (cb) => cb('three'));
  socket.on('none', () => {});
  socket.on('none', () => {});
  socket.on('mod', (n, cb) => cb(n));
  socket.on('slow', (n, cb) => cb(n + 1));
  socket.once('one', (cb) => cb('first'));
  socket.on('one', (cb) => cb('later'));
  socket.on('bcast', (cb) => {
    io.emit('news', 1);
    socket.emit('direct', 2);
    cb();
  });
  socket.on('logs', (cb) => cb({ any: logAny, out: logOut }));
  socket.on('off', (cb) => {
    socket.offAny();
    socket.offAnyOutgoing();
    socket.removeAllListeners('multi');
    cb([socket.listenersAny().length, socket.listenersAnyOutgoing().length, socket.listeners('multi').length,
      socket.listeners('one').length]);
  });
});
httpServer.listen(0, '127.0.0.1', () => console.log(`port ${httpServer.address().port}`));
