// The streams engine (`--redis-mode streams`: @socket.io/redis-streams-adapter 0.3.1's wire,
// docs/redis-streams-wire.md) in mixed clusters, through a private redis-server (skipped when
// redis-server is not installed; cluster-modes.mjs has the suites):
// - C, Python and Lua contract servers beside the Node reference on the streams adapter, both ways:
//   broadcast, count (fetchSockets), binary byte-exact, rooms and except, fetchSockets, serverSideEmit
//   with answers, broadcasts with acks (Python and Lua: broadcast);
// - recovery across nodes with socket.io-client 4.8 (C to C, C to Node, Node to C, and Node to Node,
//   which checks the test itself): recovered, same id and rooms, every missed event once, in order;
// - Redis restarted (persistence on, same port) under a broadcast stream: nothing the stream kept is
//   lost or doubled on the other node, and local delivery goes on;
// - every contract server (C, Python, Lua, Node) exits 2 for a bad --redis-mode or one without --redis;
// - the bytes a C and a Python node send (XADD fields, PUBLISH payloads: broadcast, room with except,
//   binary, socketsJoin, fetchSockets, serverSideEmit, broadcast with acks, and the answers to a Node
//   node's requests), watched with redis-cli MONITOR, against the capture (redis-wire-vectors.json).

import { flagSuite, pairSuite, recoverySuite, restartSuite, useRedis, wireSuite } from './cluster-modes.mjs';

const redis = useRedis();
for (const [a, b] of [['node', 'node'], ['c', 'node'], ['node', 'c'], ['c', 'c']]) pairSuite(redis, 'streams', a, b);
for (const [a, b] of [['python', 'node'], ['node', 'lua'], ['python', 'c']]) {
  pairSuite(redis, 'streams', a, b, { full: false });
}
for (const [a, b] of [['node', 'node'], ['c', 'c'], ['c', 'node'], ['node', 'c']]) recoverySuite(redis, a, b);
for (const [a, b] of [['node', 'node'], ['c', 'node'], ['node', 'c'], ['c', 'c']]) restartSuite(a, b);
for (const kind of ['c', 'python']) wireSuite(redis, 'streams', kind);
flagSuite();
