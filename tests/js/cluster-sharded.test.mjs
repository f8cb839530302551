// The sharded engine (`--redis-mode sharded`: @socket.io/redis-adapter 8.3's createShardedAdapter,
// SPUBLISH / SSUBSCRIBE, docs/redis-sharded-wire.md) in mixed clusters on one private redis-server
// (skipped when redis-server is not installed; cluster-modes.mjs has the suites): C, Python and Lua
// contract servers beside the Node reference, both ways: broadcast, count (fetchSockets), binary
// byte-exact, rooms (dynamic room channels) and except, fetchSockets, serverSideEmit with answers,
// broadcasts with acks (Python and Lua: broadcast). Node + Node checks the tests themselves. And
// the bytes a C and a Python node SPUBLISH (channels, JSON text, notepack msgpack for binary) against
// the capture between two Node nodes (redis-wire-vectors.json), watched with redis-cli MONITOR.

import { pairSuite, useRedis, wireSuite } from './cluster-modes.mjs';

const redis = useRedis();
for (const [a, b] of [['node', 'node'], ['c', 'node'], ['node', 'c'], ['c', 'c']]) pairSuite(redis, 'sharded', a, b);
for (const [a, b] of [['python', 'node'], ['node', 'lua'], ['lua', 'c']]) pairSuite(redis, 'sharded', a, b, { full: false });
// (not Lua: its tables do not keep the order of an object's keys, so a broadcast's objects are
// re-spelt in another order; equal JSON, other bytes)
for (const kind of ['c', 'python']) wireSuite(redis, 'sharded', kind);
