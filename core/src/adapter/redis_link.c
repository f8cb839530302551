/* A Redis URL's parts: see redis_link.h. */
#ifdef SIO_HAVE_REDIS

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/redis_link.h"
#include "fail.h"

#define DEFAULT_PORT 6379

/* redis://[[user]:password@]host[:port][/db]. Pub/sub and streams ignore the database number,
 * so /db is accepted and not used. */
int sio__redis_conf_parse(sio_redis_conf_t *c, const char *url) {
  const char *p;
  static const char form[] = "redis://[[user]:password@]host[:port][/db]";
  if (strncmp(url, "redis://", 8) != 0)
    return sio__fail(SIO_EINVAL, "redis URL \"%s\" does not start with redis:// (%s)", url, form);
  p = url + 8;
  const char *end = p + strcspn(p, "/?#");
  const char *at = NULL;
  for (const char *q = p; q < end; q++)
    if (*q == '@') at = q;
  if (at) {
    const char *colon = memchr(p, ':', (size_t)(at - p));
    if (colon) {
      if (colon > p) c->user = strndup(p, (size_t)(colon - p));
      c->password = strndup(colon + 1, (size_t)(at - colon - 1));
    } else {
      c->password = strndup(p, (size_t)(at - p));
    }
    p = at + 1;
  }
  const char *colon = memchr(p, ':', (size_t)(end - p));
  c->port = DEFAULT_PORT;
  if (colon) {
    char *e;
    long port = strtol(colon + 1, &e, 10);
    if (e != end || port <= 0 || port > 65535)
      return sio__fail(SIO_EINVAL, "redis URL \"%s\": bad port (%s)", url, form);
    c->port = (int)port;
  }
  const char *hend = colon ? colon : end;
  if (hend == p) return sio__fail(SIO_EINVAL, "redis URL \"%s\" names no host (%s)", url, form);
  c->host = strndup(p, (size_t)(hend - p));
  if (!c->host) return SIO_ENOMEM;
  return 0;
}

void sio__redis_conf_clear(sio_redis_conf_t *c) {
  free(c->host);
  free(c->user);
  free(c->password);
  c->host = c->user = c->password = NULL;
}

#endif /* SIO_HAVE_REDIS */
