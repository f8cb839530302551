// Node's socket.io 4.8 / engine.io 6.6 (tests/js/node_modules) with the hooks test_hooks.py gives
// sio: allowRequest refusing without X-Token: good (message 'no "entry"'), initial_headers and
// headers adding X-Initial and X-All. Prints `listening on http://127.0.0.1:PORT`; runs until killed.
import { createRequire } from 'node:module';
import http from 'node:http';

const require = createRequire(new URL('../js/package.json', import.meta.url));
const { Server } = require('socket.io');

const server = http.createServer();
const io = new Server(server, {
  allowRequest: (req, cb) => {
    const ok = req.headers['x-token'] === 'good';
    cb(ok ? null : 'no "entry"', ok);
  },
});
io.engine.on('initial_headers', (headers) => { headers['X-Initial'] = 'i'; });
io.engine.on('headers', (headers) => { headers['X-All'] = 'a'; });
server.listen(0, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
