#!/usr/bin/env bash
# Builds the container image from the repository's Dockerfile.
#
#   scripts/containerManagement/build-image.sh [TAG] [docker build options]
#
# TAG defaults to $IMAGE_TAG, or sessiondb:dev. Options after the tag go to
# "docker build" (e.g. --pull, --platform linux/arm64, --build-arg ...).
# $DOCKER names another client with the same interface (e.g. podman).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tag=${IMAGE_TAG:-sessiondb:dev}
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  tag=$1
  shift
fi
docker=${DOCKER:-docker}
if [ ! -f "$repo/Dockerfile" ]; then
  echo "build-image.sh: no Dockerfile in $repo" >&2
  exit 1
fi
if ! command -v "$docker" >/dev/null 2>&1; then
  echo "build-image.sh: $docker not found; install Docker (or set DOCKER=podman)" >&2
  exit 127
fi
echo "building $tag from $repo/Dockerfile" >&2
exec "$docker" build -t "$tag" -f "$repo/Dockerfile" "$@" "$repo"
