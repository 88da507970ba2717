#!/bin/sh
# Starts a Redis Cluster node. Its node id and the cluster's layout live in
# nodes.conf on the pod's PersistentVolume, so a restarted pod rejoins as the
# same node. The redis-cluster-create Job joins the six nodes once.
set -eu
etc=/usr/local/etc/redis
umask 077
{
  echo "include $etc/redis.conf"
  echo "cluster-enabled yes"
  echo "cluster-config-file /data/nodes.conf"
  # A primary that stops answering is replaced by its replica after about
  # this long plus 1-2 s (docs/reliability.md has the measurements).
  echo "cluster-node-timeout 5000"
  # A failed primary takes only its own slots down: the other primaries'
  # users keep working while its replica takes over.
  echo "cluster-require-full-coverage no"
  # Clients get stable DNS names (redis-3.redis-headless), not pod IPs,
  # in CLUSTER SHARDS and in MOVED/ASK redirections.
  echo "cluster-announce-hostname $(hostname).redis-headless"
  echo "cluster-preferred-endpoint-type hostname"
  echo "masteruser replica"
  echo "masterauth $(cat "$etc/replica-password")"
} >/tmp/redis.conf
exec redis-server /tmp/redis.conf
