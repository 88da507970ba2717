#!/bin/sh
# Starts a sentinel. Sentinel rewrites its configuration file, so it is
# written anew at each start into the pod's own volume, from the Secret: the
# users of sentinel-users.acl and the password of the sentinel user, with
# which sentinels log in to Redis and to each other.
set -eu
etc=/usr/local/etc/redis
self="$(hostname).sentinel-headless"
umask 077

# After a failover redis-0 is no longer the primary: ask the other sentinels.
primary=""
for s in sentinel-0 sentinel-1 sentinel-2; do
  [ "$s" = "$(hostname)" ] && continue
  out=$(REDISCLI_AUTH="$(cat "$etc/probe-password")" timeout 3 redis-cli --no-auth-warning \
    --user probe -h "$s.sentinel-headless" -p 26379 \
    sentinel get-master-addr-by-name sessiondb 2>/dev/null | head -n 1) || true
  case "$out" in
    "" | *" "*) ;;
    *) primary=$out && break ;;
  esac
done
if [ -z "$primary" ]; then
  primary=redis-0.redis-headless
fi

pw=$(cat "$etc/sentinel-password")
{
  echo "port 26379"
  echo "dir /data"
  echo "protected-mode no"
  echo "sentinel resolve-hostnames yes"
  echo "sentinel announce-hostnames yes"
  echo "sentinel announce-ip $self"
  # Quorum 2 of 3. down-after 5 s: a primary that stops answering is
  # replaced after about 5-7 s (docs/reliability.md has the measurements).
  echo "sentinel monitor sessiondb $primary 6379 2"
  echo "sentinel down-after-milliseconds sessiondb 5000"
  echo "sentinel failover-timeout sessiondb 60000"
  echo "sentinel parallel-syncs sessiondb 1"
  echo "sentinel auth-user sessiondb sentinel"
  echo "sentinel auth-pass sessiondb $pw"
  echo "sentinel sentinel-user sentinel"
  echo "sentinel sentinel-pass $pw"
  cat "$etc/sentinel-users.acl"
} >/data/sentinel.conf
exec redis-server /data/sentinel.conf --sentinel
