#!/bin/sh
# Joins the six Redis pods into a cluster of three primaries with a replica
# each, once: when the nodes already know each other it changes nothing, so
# the Job may run again (kubectl apply, a retried pod) without harm.
#
# CLUSTER_NODES (host:port list) and CLUSTERADMIN_PASSWORD_FILE default to
# the pods and the Secret's file; the deploy tests set them to run this very
# script against Redis processes on loopback.
set -eu
export REDISCLI_AUTH
REDISCLI_AUTH=$(cat "${CLUSTERADMIN_PASSWORD_FILE:-/usr/local/etc/redis/clusteradmin-password}")
nodes=${CLUSTER_NODES:-"redis-0.redis-headless:6379 redis-1.redis-headless:6379 redis-2.redis-headless:6379 redis-3.redis-headless:6379 redis-4.redis-headless:6379 redis-5.redis-headless:6379"}
cli() { # host:port args...
  node=$1
  shift
  timeout 10 redis-cli --no-auth-warning --user clusteradmin -h "${node%:*}" -p "${node##*:}" "$@"
}

# Every node answers (the pods start in parallel).
for n in $nodes; do
  tries=0
  until [ "$(cli "$n" ping 2>/dev/null)" = PONG ]; do
    tries=$((tries + 1))
    if [ "$tries" -ge 120 ]; then
      echo "cluster-create: $n does not answer PING as clusteradmin" >&2
      exit 1
    fi
    sleep 2
  done
done

# Already created? A node that knows other nodes, or serves slots.
for n in $nodes; do
  info=$(cli "$n" cluster info | tr -d '\r')
  known=$(printf '%s\n' "$info" | sed -n 's/^cluster_known_nodes://p')
  slots=$(printf '%s\n' "$info" | sed -n 's/^cluster_slots_assigned://p')
  if [ "$known" != 1 ] || [ "$slots" != 0 ]; then
    echo "cluster-create: $n already belongs to a cluster ($known nodes, $slots slots): nothing to do"
    exit 0
  fi
done

# shellcheck disable=SC2086 # one argument per node
timeout 300 redis-cli --no-auth-warning --user clusteradmin --cluster create $nodes \
  --cluster-replicas 1 --cluster-yes

# Done when every node sees the cluster as ok: until the nodes have gossiped
# the slot map, a client may still be told CLUSTERDOWN.
for n in $nodes; do
  tries=0
  until cli "$n" cluster info | tr -d '\r' | grep -qx 'cluster_state:ok'; do
    tries=$((tries + 1))
    if [ "$tries" -ge 300 ]; then
      echo "cluster-create: $n does not report cluster_state:ok" >&2
      exit 1
    fi
    sleep 0.2
  done
done
echo "cluster-create: cluster_state:ok on every node"
