#!/usr/bin/env bash
# Makes the credentials of a sessiondb deployment in one directory:
#
#   redis-sessiond-password   Redis password of the "sessiond" ACL user
#   redis-operator-password   Redis password of the "operator" ACL user (sessionctl)
#   redis-probe-password      Redis password of the "probe" ACL user (health checks)
#   redis-replica-password    Redis password of the "replica" ACL user (replicas
#                             of the Sentinel and Cluster topologies)
#   redis-sentinel-password   Redis password of the "sentinel" ACL user (Sentinel)
#   redis-clusteradmin-password  Redis password of the "clusteradmin" ACL user
#                             (the job that creates a Redis Cluster)
#   sessiond-api-keys         sessiond's API keys, "role:key" lines (app, admin)
#   users.acl                 deploy/redis/users.acl with the SHA-256 hashes of
#                             the passwords above in place of the placeholders
#   users-ha.acl              users.acl plus deploy/redis/users-ha.acl: the ACL
#                             file of the Sentinel and Cluster topologies
#   sentinel-users.acl        deploy/redis/sentinel-users.acl: the sentinels' users
#
# Usage: deploy/make-secrets.sh [DIR]        (DIR defaults to ./secrets)
#
# Existing password and key files are kept: running the script again only
# makes what is missing, and always writes users.acl anew from the rules in
# deploy/redis/users.acl. To rotate a Redis password without downtime, rename
# its file to NAME.old and run the script: users.acl then accepts both the old
# and the new password until NAME.old is deleted and the script run again
# (docs/operations.md walks through it).
#
# The directory is made private (0700) and the files in it readable (0644):
# docker compose mounts secret files as they are into containers that run as
# other users (redis 999, sessiond 65532), while the directory keeps other
# local users out. Kubernetes takes the files with kubectl create secret.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-./secrets}

if [ "$#" -gt 1 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit 2
fi

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum | cut -d' ' -f1
  else
    shasum -a 256 | cut -d' ' -f1
  fi
}

# random prints 40 characters from [A-Za-z0-9]: about 238 bits.
random() {
  local s
  # tr stops on SIGPIPE once head has its 40 characters: not an error.
  s=$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 40) || true
  if [ "${#s}" -ne 40 ]; then
    echo "make-secrets: could not read /dev/urandom" >&2
    exit 1
  fi
  printf '%s' "$s"
}

umask 077
mkdir -p "$dir"
chmod 700 "$dir"

make_file() { # file content-command...
  local f="$dir/$1"
  shift
  if [ ! -s "$f" ]; then
    "$@" >"$f"
    echo "made $f"
  fi
  chmod 644 "$f"
}

app_and_admin_keys() {
  printf '# sessiond API keys, one role:key a line\napp:%s\nadmin:%s\n' "$(random)" "$(random)"
}

for user in sessiond operator probe replica sentinel clusteradmin; do
  make_file "redis-$user-password" random
done
make_file sessiond-api-keys app_and_admin_keys

# hashes USER prints "#<sha256>" for the user's password and, while it exists,
# for the previous one (NAME.old).
hashes() {
  local f="$dir/redis-$1-password" out
  out="#$(tr -d '\r\n' <"$f" | sha256)"
  if [ -s "$f.old" ]; then
    out="#$(tr -d '\r\n' <"$f.old" | sha256) $out"
  fi
  printf '%s' "$out"
}

# render TEMPLATE... prints the ACL rules of the templates with the hashes of
# the real passwords in place of the placeholders.
render() {
  local line name h
  cat "$@" | while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
      user\ default\ *|'')
        printf '%s\n' "$line"
        ;;
      user\ *)
        name=$(printf '%s' "$line" | cut -d' ' -f2)
        if [ ! -f "$dir/redis-$name-password" ]; then
          echo "make-secrets: no password file for ACL user $name" >&2
          exit 1
        fi
        h=$(hashes "$name")
        # Replace the placeholder hash (and only it) with the real ones.
        printf '%s\n' "$line" | sed -E "s/#[0-9a-f]{64}/$h/"
        ;;
      *)
        printf '%s\n' "$line"
        ;;
    esac
  done
}

# write FILE TEMPLATE...: FILE is written in place, not renamed over: docker
# compose bind-mounts the file itself, and a running Redis would keep seeing
# the old one after a rename.
write() {
  local out="$dir/$1" tmp
  shift
  tmp=$(mktemp "$dir/.acl.XXXXXX")
  if ! render "$@" >"$tmp"; then
    rm -f "$tmp"
    exit 1
  fi
  cat "$tmp" >"$out"
  chmod 644 "$out"
  rm -f "$tmp"
  echo "wrote $out"
}

write users.acl "$here/redis/users.acl"
write users-ha.acl "$here/redis/users.acl" "$here/redis/users-ha.acl"
write sentinel-users.acl "$here/redis/sentinel-users.acl"
