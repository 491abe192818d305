// The cluster test server (PROTOCOL.md) on Node: socket.io 4.8 with one of the Redis
// adapters over the `redis` 4 client:
//   ADAPTER=pubsub   @socket.io/redis-adapter 8.x `createAdapter` (the default)
//   ADAPTER=sharded  @socket.io/redis-adapter 8.3 `createShardedAdapter` (SUBSCRIPTION_MODE
//                    static|dynamic|dynamic-private, default dynamic)
//   ADAPTER=streams  @socket.io/redis-streams-adapter 0.3 `createAdapter` (STREAM_COUNT,
//                    SHARDED_PUBSUB=1 for useShardedPubSub)
// Redis is REDIS_URL (one server) or REDIS_CLUSTER (comma-separated node URLs: a Redis
// Cluster through `createCluster`). RECOVERY=<ms> turns connection state recovery on with that
// maxDisconnectionDuration (a recovered socket keeps its data).
//
// usage: NAME=N ADAPTER=streams REDIS_URL=redis://127.0.0.1:6379/ PORT=0 [PARSER=msgpack]
//        node node_server.mjs
// PARSER=msgpack: the server speaks socket.io-msgpack-parser to its clients.
// With ADMIN_HASH (a bcrypt hash), the server is instrumented by @socket.io/admin-ui itself
// (basic auth, user admin, development mode, server id NAME) for the Admin UI tests.
// Prints `listening <port>` on stdout once the adapter's Redis clients are connected; exits
// when its standard input closes (so the Rust test that started it never leaves it behind).

import { createServer } from 'node:http';
import { createClient, createCluster } from 'redis';
import { Server } from 'socket.io';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import { createAdapter as createStreamsAdapter } from '@socket.io/redis-streams-adapter';
import msgpackParser from 'socket.io-msgpack-parser';

const NAME = process.env.NAME ?? 'N';
const ADAPTER = process.env.ADAPTER ?? 'pubsub';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/';
const REDIS_CLUSTER = process.env.REDIS_CLUSTER;
const PORT = Number(process.env.PORT ?? 0);
const RECOVERY = process.env.RECOVERY ? Number(process.env.RECOVERY) : null;

const pub = REDIS_CLUSTER
  ? createCluster({ rootNodes: REDIS_CLUSTER.split(',').map((url) => ({ url })) })
  : createClient({ url: REDIS_URL });
pub.on('error', (e) => console.error(`${NAME}: redis: ${e.message}`));
let adapter;
if (ADAPTER === 'streams') {
  await pub.connect();
  adapter = createStreamsAdapter(pub, {
    blockTimeInMs: 1000,
    streamCount: Number(process.env.STREAM_COUNT ?? 1),
    useShardedPubSub: process.env.SHARDED_PUBSUB === '1',
  });
} else {
  const sub = pub.duplicate();
  sub.on('error', (e) => console.error(`${NAME}: redis sub: ${e.message}`));
  await Promise.all([pub.connect(), sub.connect()]);
  adapter =
    ADAPTER === 'sharded'
      ? createShardedAdapter(pub, sub, {
          subscriptionMode: process.env.SUBSCRIPTION_MODE ?? 'dynamic',
          channelPrefix: process.env.CHANNEL_PREFIX ?? 'socket.io',
        })
      : createAdapter(pub, sub, { requestsTimeout: 1500 });
}

const httpServer = createServer();
const io = new Server(httpServer, {
  adapter,
  ...(RECOVERY ? { connectionStateRecovery: { maxDisconnectionDuration: RECOVERY } } : {}),
  // Socket.IO 2 clients too.
  allowEIO3: true,
  ...(process.env.PARSER === 'msgpack' ? { parser: msgpackParser } : {}),
});

if (process.env.ADMIN_HASH) {
  const { instrument } = await import('@socket.io/admin-ui');
  instrument(io, {
    auth: { type: 'basic', username: 'admin', password: process.env.ADMIN_HASH },
    serverId: NAME,
    mode: 'development',
  });
}

const sorted = (list) => [...list].map(String).sort();
const byJson = (a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : JSON.stringify(a) > JSON.stringify(b) ? 1 : 0);

function operators(socket, op) {
  let o = op.broadcast ? socket.broadcast : io.except([]);
  if (op.to?.length) o = o.to(op.to);
  if (op.except?.length) o = o.except(op.except);
  if (op.local) o = o.local;
  if (op.volatile) o = o.volatile;
  if (op.compress !== undefined && op.compress !== null) o = o.compress(op.compress);
  if (op.timeout) o = o.timeout(op.timeout);
  return o;
}

async function runOp(socket, op) {
  const o = operators(socket, op);
  const args = op.args ?? [];
  switch (op.kind) {
    case 'emit':
      o.emit(op.event, ...args);
      return 'ok';
    case 'emitWithAck': {
      const withTimeout = op.timeout ? o : o.timeout(3000);
      return await new Promise((resolve) => {
        withTimeout.emit(op.event, ...args, (err, responses) => {
          resolve({ ok: [...(responses ?? [])].sort(byJson), errors: err ? 'timeout' : 0 });
        });
      });
    }
    case 'fetch': {
      const sockets = await o.fetchSockets();
      return sockets
        .map((s) => ({
          id: s.id,
          rooms: sorted(s.rooms),
          data: s.data,
          auth: s.handshake.auth,
          eio: s.handshake.query?.EIO ?? null,
          hasHost: Object.prototype.hasOwnProperty.call(s.handshake.headers ?? {}, 'host'),
        }))
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    }
    case 'join':
      o.socketsJoin(op.rooms);
      return 'ok';
    case 'leave':
      o.socketsLeave(op.rooms);
      return 'ok';
    case 'disconnect':
      o.disconnectSockets(!!op.close);
      return 'ok';
    case 'remoteEmit':
    case 'remoteJoin':
    case 'remoteLeave':
    case 'remoteDisconnect': {
      const sockets = await io.in(op.id).fetchSockets();
      for (const s of sockets) {
        if (op.kind === 'remoteEmit') s.emit(op.event, ...args);
        else if (op.kind === 'remoteJoin') s.join(op.rooms);
        else if (op.kind === 'remoteLeave') s.leave(op.rooms[0]);
        else s.disconnect(!!op.close);
      }
      return sockets.length;
    }
    case 'serverSideEmit':
      io.serverSideEmit(op.event, ...args);
      return 'ok';
    case 'serverSideEmitWithAck':
      try {
        const replies = await io.serverSideEmitWithAck(op.event, ...args);
        return { ok: [...replies].sort(byJson) };
      } catch (e) {
        return { error: e.message };
      }
    case 'serverCount':
      return await io.of('/').adapter.serverCount();
    default:
      return { error: `unknown op ${op.kind}` };
  }
}

io.on('connection', (socket) => {
  // A recovered socket keeps the data of its first server; kept beside what
  // @socket.io/admin-ui put there (its `_admin`), when instrumented. A Socket.IO 2 client has
  // no auth in `/`: its nick comes in the query.
  if (!socket.recovered) {
    socket.data = {
      ...socket.data,
      server: NAME,
      nick: socket.handshake.auth?.nick ?? socket.handshake.query?.nick ?? null,
    };
  }
  socket.on('whoami', (ack) => ack({ server: NAME, id: socket.id }));
  socket.on('join', (rooms, ack) => {
    socket.join(rooms);
    ack(sorted(socket.rooms));
  });
  socket.on('leave', (room, ack) => {
    socket.leave(room);
    ack(sorted(socket.rooms));
  });
  socket.on('rooms', (_, ack) => ack(sorted(socket.rooms)));
  socket.on('op', async (op, ack) => {
    try {
      ack(await runOp(socket, op));
    } catch (e) {
      ack({ error: String(e?.message ?? e) });
    }
  });
});

io.of('/').on('sse', (...args) => {
  io.local.emit('sse-got', { server: NAME, args });
});
io.of('/').on('sse-ack', (...args) => {
  const cb = args.pop();
  cb({ server: NAME, args });
});

httpServer.listen(PORT, '127.0.0.1', () => {
  console.log(`listening ${httpServer.address().port}`);
});

process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
