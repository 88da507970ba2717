#!/bin/sh
# Starts a Redis pod of the Sentinel topology: the primary, or a replica of
# the primary the sentinels name. At the very first start no sentinel knows a
# primary yet, and redis-0 starts as the primary.
set -eu
etc=/usr/local/etc/redis
self="$(hostname).redis-headless"
umask 077

# The current primary, from the first sentinel that names one (as the probe
# user, which may ask nothing else).
primary=""
for s in sentinel-0 sentinel-1 sentinel-2; do
  out=$(REDISCLI_AUTH="$(cat "$etc/probe-password")" timeout 3 redis-cli --no-auth-warning \
    --user probe -h "$s.sentinel-headless" -p 26379 \
    sentinel get-master-addr-by-name sessiondb 2>/dev/null | head -n 1) || true
  case "$out" in
    "" | *" "*) ;; # no answer, or an error message
    *) primary=$out && break ;;
  esac
done
if [ -z "$primary" ]; then
  primary=redis-0.redis-headless
fi

# redis.conf of the ConfigMap, then what this topology adds. The file lives
# in /tmp (memory) because it holds the replication password.
{
  echo "include $etc/redis.conf"
  # Replicas and sentinels know this pod by its stable DNS name.
  echo "replica-announce-ip $self"
  echo "masteruser replica"
  echo "masterauth $(cat "$etc/replica-password")"
  # The primary refuses writes (NOREPLICAS: sessiond answers 503) when no
  # replica has acknowledged anything for 10 s: a primary cut off from its
  # replicas stops taking writes that a failover would throw away.
  echo "min-replicas-to-write 1"
  echo "min-replicas-max-lag 10"
  if [ "$primary" != "$self" ] && [ "$primary" != "$(hostname)" ]; then
    echo "replicaof $primary 6379"
  fi
} >/tmp/redis.conf
exec redis-server /tmp/redis.conf
