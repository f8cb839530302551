// What the Node reference (contract-server.mjs here) and the Node benchmark peer
// (bench/peers/node/server.mjs) share: the contract's command line (shared/contract.md) and the
// handlers of namespace `/` that the benchmarks use. No dependencies, so either may import it by
// relative path (each resolves socket.io from its own node_modules).
//
// parseContractArgs(argv, name) returns {host, port, path, pingInterval, pingTimeout, maxPayload,
// allowEIO3, redis, redisMode, cors, cookie, perMessageDeflate, parser, recovery}; redisMode is
// 'classic' (default), 'sharded' or 'streams' (`--redis-mode`, only with --redis); parser is null (JSON) or
// 'msgpack'; recovery is null (off) or the maxDisconnectionDuration in ms (`--recovery [MS]`,
// `--recovery=MS`: MS only when all digits); a bad argument prints usage on stderr and exits 2.

export function parseContractArgs(argv, name) {
  const usage = (message) => {
    process.stderr.write(`${name}: ${message}\n` +
      `usage: ${name} [--host H] [--port P] [--path /socket.io/] [--ping-interval MS] ` +
      '[--ping-timeout MS] [--max-payload BYTES] [--allow-eio3] [--cors ORIGINS] [--redis URL] ' +
      '[--redis-mode classic|sharded|streams] ' +
      '[--cookie NAME] [--per-message-deflate] [--parser msgpack] [--recovery [MS]] ' +
      '[--admin | --admin-auth USER:BCRYPT]\n');
    process.exit(2);
  };
  const opts = {
    host: '127.0.0.1',
    port: 3000,
    path: '/socket.io/',
    pingInterval: 25000,
    pingTimeout: 20000,
    maxPayload: 1000000,
    allowEIO3: false,
    redis: null,
    redisMode: 'classic',
    cors: null,
    cookie: null,
    perMessageDeflate: false,
    parser: null,
    recovery: null,
    admin: false,      // --admin / --admin-auth: @socket.io/admin-ui's instrument() on /admin-ui
    adminAuth: null,   // {username, password (a bcrypt hash)}
  };
  const number = (flag, value) => {
    const n = Number(value);
    if (value === undefined || value === '' || !Number.isInteger(n) || n < 0) usage(`${flag} wants a number`);
    return n;
  };
  let redisModeGiven = false;
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
      case '--redis': opts.redis = take(); break;
      case '--redis-mode':
        opts.redisMode = take();
        if (!['classic', 'sharded', 'streams'].includes(opts.redisMode)) {
          usage(`--redis-mode: classic, sharded or streams, not ${JSON.stringify(opts.redisMode)}`);
        }
        redisModeGiven = true;
        break;
      case '--cookie': opts.cookie = take(); break;
      case '--per-message-deflate': opts.perMessageDeflate = true; break;
      case '--parser':
        opts.parser = take();
        if (opts.parser !== 'msgpack') usage('--parser: only msgpack is known (JSON is the default)');
        break;
      case '--recovery':
        if (value === undefined && /^[0-9]+$/.test(argv[i + 1] || '')) value = argv[++i];
        opts.recovery = value === undefined ? 120000 : number(arg, value);
        break;
      case '--cors': opts.cors = value !== undefined ? value : (argv[i + 1] && !argv[i + 1].startsWith('--') ? argv[++i] : '*'); break;
      case '--admin': opts.admin = true; break;
      case '--admin-auth': {
        const v = take();
        const colon = v === undefined ? -1 : v.indexOf(':');
        if (colon < 0) usage('--admin-auth wants USER:BCRYPTHASH');
        opts.admin = true;
        opts.adminAuth = { username: v.slice(0, colon), password: v.slice(colon + 1) };
        break;
      }
      default: usage(`unknown argument ${JSON.stringify(argv[i])}`);
    }
  }
  if (redisModeGiven && !opts.redis) usage('--redis-mode needs --redis URL');
  if (!opts.host) usage('--host wants a value');
  if (!opts.path || !opts.path.startsWith('/')) usage('--path must start with /');
  return opts;
}

export const lastIsAck = (args) => args.length > 0 && typeof args[args.length - 1] === 'function';

// The benchmark part of namespace `/` for one socket: auth on connect, message, message-with-ack,
// echo, broadcast, count. `count` (optional): an async function giving the number to ack (the
// reference with --redis counts cluster-wide with fetchSockets); default root.sockets.size.
export function addBenchmarkHandlers(root, socket, count = null) {
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
  socket.on('count', async (ack) => {
    if (typeof ack !== 'function') return;
    if (!count) { ack(root.sockets.size); return; }
    try {
      ack(await count());
    } catch (err) {
      process.stderr.write(`count: ${err.message}\n`);
    }
  });
}
