/* The cluster adapter (cluster.c), Node's ClusterAdapter with the messages of
 * @socket.io/redis-adapter 8.3: one per namespace, with a random uid, the requests it made and
 * their timeouts, and the request types of that adapter; it wraps the namespace's in-memory adapter
 * (rooms and delivery stay there) and adds what crosses nodes.
 *
 * It runs over a transport of three calls (publish, publish_response, server_count) and is fed by
 * it (sio__cluster_on_*). Messages are the bytes Node's adapter publishes: broadcasts are msgpack
 * [uid, packet, opts]; requests and responses JSON text, or msgpack for broadcasts with acks. */
#ifndef SIO_CLUSTER_H
#define SIO_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "adapter/adapter.h"

typedef struct sio_cluster sio_cluster_t;

/* Where a message goes or came from (Redis: KEY#NSP#, KEY#NSP#ROOM#, KEY-request#NSP#,
 * KEY-response#NSP# and KEY-response#NSP#UID#). */
enum { SIO_CHAN_BROADCAST, SIO_CHAN_ROOM, SIO_CHAN_REQUEST, SIO_CHAN_RESPONSE };

/* The ids nodes make up, adapter uids and request ids: 6 characters of base 62, as Node's uid2(6). */
#define SIO_CLUSTER_ID_LEN 6
/* How long a request waits for the other nodes, unless told (Node's requestsTimeout). */
#define SIO_CLUSTER_TIMEOUT_MS 5000

typedef struct sio_cluster_transport {
  /* Sends data to the other nodes: chan SIO_CHAN_BROADCAST, SIO_CHAN_ROOM (a broadcast to exactly
   * one room, `room`, which nodes without it may skip) or SIO_CHAN_REQUEST. 0, SIO_EUNAVAIL or
   * SIO_ECLOSED when they cannot be reached now, SIO_ENOMEM. */
  int (*publish)(void *t, int chan, const char *room, const char *data, size_t len);
  /* Sends data, an answer to a request of the node `uid` (NULL: not known), as publish. */
  int (*publish_response)(void *t, const char *uid, const char *data, size_t len);
  /* Asks how many nodes listen to requests, this one included: the answer comes later through
   * sio__cluster_on_server_count with request_id (copied), never inside this call. 0, or, when it
   * will not come, SIO_EUNAVAIL (requests cannot be answered now: the transport cannot both send
   * them and hear the answers) or SIO_ECLOSED. */
  int (*server_count)(void *t, const char *request_id);
  /* Frees t, with the cluster adapter: nothing more is delivered to it. */
  void (*free)(void *t);
} sio_cluster_transport_t;

/* A cluster adapter for nsp, taking `local` (the namespace's in-memory adapter) and t (tp is
 * kept: static); requests wait timeout_ms for the other nodes. NULL on ENOMEM, local and t
 * untouched. */
sio_cluster_t *sio__cluster_new(sio_nsp_t *nsp, sio_adapter_t *local,
                                const sio_cluster_transport_t *tp, void *t, uint32_t timeout_ms);
sio_adapter_t *sio__cluster_adapter(sio_cluster_t *c);
/* The adapter's uid (SIO_CLUSTER_ID_LEN characters): its messages carry it. */
const char *sio__cluster_uid(const sio_cluster_t *c);

/* What the transport delivers. */
/* A message of another node (or one of ours, heard back: ignored), data[0..len) borrowed; room: for
 * SIO_CHAN_ROOM, the room named by the channel. */
void sio__cluster_on_message(sio_cluster_t *c, int chan, const char *room, const char *data,
                             size_t len);
/* The answer to server_count: n nodes (n >= 1), or n < 0, the reason none came (SIO_EUNAVAIL,
 * SIO_ECLOSED). */
void sio__cluster_on_server_count(sio_cluster_t *c, const char *request_id, long long n);
/* The transport lost the other nodes: requests waiting for them end now with status. */
void sio__cluster_on_down(sio_cluster_t *c, int status);

#endif
