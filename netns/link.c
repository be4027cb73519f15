/* A space's bridge goes with the space: the bridge plugin makes it on the
 * first ADD and nothing in CNI removes it. */
#include <errno.h>
#include <netlink/route/link.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/util.h"
#include "netns/netns.h"

static void nl_sock_freep(struct nl_sock **s) {
  if (*s)
    nl_socket_free(*s);
}
static void link_freep(struct rtnl_link **l) {
  if (*l)
    rtnl_link_put(*l);
}

int kk_net_bridge_delete(const char *name, kk_err_t *err) {
  if (name == NULL || name[0] == '\0' || strlen(name) > KK_NET_IFNAMSIZ)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "bridge name \"%s\" is invalid", name ? name : "");
  KK_CLEANUP(nl_sock_freep) struct nl_sock *sk = nl_socket_alloc();
  if (sk == NULL)
    kk_oom();
  int rc = nl_connect(sk, NETLINK_ROUTE);
  if (rc < 0)
    return kk_error(err, 0, "netlink: connect: %s", nl_geterror(rc));
  KK_CLEANUP(link_freep) struct rtnl_link *link = NULL;
  rc = rtnl_link_get_kernel(sk, 0, name, &link);
  if (rc == -NLE_NODEV || rc == -NLE_OBJ_NOTFOUND)
    return 0;
  if (rc < 0)
    return kk_error(err, 0, "netlink: look up %s: %s", name, nl_geterror(rc));
  const char *type = rtnl_link_get_type(link);
  if (type == NULL || strcmp(type, "bridge") != 0)
    return kk_error_kind(err, KK_ERR_CONFLICT, 0, "link %s is not a bridge; left in place", name);
  rc = rtnl_link_delete(sk, link);
  if (rc < 0 && rc != -NLE_NODEV && rc != -NLE_OBJ_NOTFOUND)
    return kk_error(err, 0, "netlink: delete bridge %s: %s", name, nl_geterror(rc));
  return 0;
}
