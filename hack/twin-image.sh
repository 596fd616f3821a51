#!/usr/bin/env bash
# Builds the twin's container image with no registry: a Debian bookworm root file system
# (debootstrap, from Debian's mirror) with the servers the twin's manifests run, plus the
# threescale-twin binary built here. The manifests in fixtures/twin run these programs as
# host binaries today; this image is what they run on a real kind node.
#
#   hack/twin-image.sh            build (or find up to date) the image; the last line printed
#                                 is its digest tag
#
# One image, not one per component: 3scale's own components share images (system-app,
# system-sidekiq and system-searchd all run the porta image), the twin's processes are one
# binary with a subcommand each, and a debootstrap costs 40-70 s, so one root serves all.
#
# Environment:
#   TWIN_IMAGE_REPO   the repository to tag; default threescale-chaos/twin. The image is
#                     tagged REPO:<digest of its inputs> (printed) and REPO:latest
#   TWIN_IMAGE_CACHE  work and cache directory; default ~/.cache/threescale-chaos/twin-image
#   DEBIAN_MIRROR     default http://deb.debian.org/debian
#   DOCKER_HOST       the engine to build in (hack/docker-engine.sh prints it)
#
# What goes in:
#   - Debian's redis-server and redis-cli, mariadbd, mariadb-install-db and mariadb-admin,
#     memcached, Sphinx searchd (system-searchd execs it), PostgreSQL, curl and the shell
#     tools the manifests' init containers and probes call;
#   - /usr/local/bin/threescale-twin, static (CGO_ENABLED=0) and stripped (-s -w: 66 MB, not 94);
#   - /etc/threescale-twin/pgbin and the label io.threescale-chaos.twin.pgbin: the directory
#     of Debian's initdb, postgres and pg_isready (/usr/lib/postgresql/<major>/bin), which is
#     not on PATH, for the manifests' {{ .PGBin }}.
#
# The root file system is a cached tarball (hack/lib/image.sh) and a base image of its own;
# the twin image is one thin layer on it (the binary and the pgbin file), so a Go change
# rebuilds only that layer. Idempotent: the image carries a label with a digest of its inputs
# (this script, hack/lib/image.sh, the package list, the binary); when the engine has that
# image and digest, nothing is built. Measured on 2 cores: cold (debootstrap and its
# downloads) about 70 s for a 734 MB image; after a Go change 4-6 s; up to date 2-5 s (the
# Go build's check).
set -euo pipefail

REPO_NAME=${TWIN_IMAGE_REPO:-threescale-chaos/twin}
CACHE=${TWIN_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/threescale-chaos/twin-image}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
mkdir -p "$CACHE"

log() { printf '%s twin-image: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=hack/lib/image.sh
. "$HERE/lib/image.sh"

command -v docker >/dev/null || die "no docker client on PATH"
command -v debootstrap >/dev/null || die "debootstrap is missing (make kind-deps installs it)"

# What fixtures/twin runs besides the twin: the stores (redis-server; mariadb-server brings
# mariadbd, mariadb-install-db and, through mariadb-client, mariadb-admin; memcached;
# postgresql; sphinxsearch), the probes' clients (redis-tools, PostgreSQL's pg_isready) and
# the init containers' curl; coreutils (chown, mkdir) is in every minbase root.
PACKAGES=redis-server,redis-tools,mariadb-server,mariadb-client,memcached,sphinxsearch,postgresql,curl,ca-certificates,procps

# ROOTFS_ONLY=1 builds the cached root file system tarball and stops (make kind-rootfs).
if [ -n "${ROOTFS_ONLY:-}" ]; then
	rootfs_tar "$CACHE" "$SUITE" "$PACKAGES" "$MIRROR" >/dev/null
	exit 0
fi

WORK=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

log "building threescale-twin"
mkdir -p "$WORK/ctx"
# Without -trimpath, and static as the Makefile builds and tests everything (CGO_ENABLED=0):
# every package is then in the Go build cache from `make build` or the unit tests, and only
# the link is left (a cold compile of the twin alone took 4 min 45 s in a cold make test).
(cd "$REPO" && CGO_ENABLED=0 go build -ldflags='-s -w' -o "$WORK/ctx/threescale-twin" ./cmd/threescale-twin)

docker info >/dev/null 2>&1 || die "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unset}); start one with hack/docker-engine.sh up"

ROOTFS_TAR=$(rootfs_tar "$CACHE" "$SUITE" "$PACKAGES" "$MIRROR")
INPUTS=$( {
	echo "$SUITE $PACKAGES $(basename "$ROOTFS_TAR")"
	cat "$0" "$HERE/lib/image.sh"
	sha256sum "$WORK/ctx/threescale-twin" | cut -d' ' -f1
} | sha256sum | cut -c1-16)
IMAGE=$REPO_NAME:$INPUTS
LABEL=io.threescale-chaos.twin.inputs
if up_to_date "$IMAGE" "$LABEL" "$INPUTS"; then
	docker tag "$IMAGE" "$REPO_NAME:latest"
	log "$IMAGE is up to date"
	echo "$IMAGE"
	exit 0
fi

# Debian installs PostgreSQL's server binaries under /usr/lib/postgresql/<major>/bin.
PGBIN=$(tar -tf "$ROOTFS_TAR" | sed -n 's#^\./\(usr/lib/postgresql/[0-9]*/bin\)/initdb$#/\1#p' | sort -V | tail -1)
[ -n "$PGBIN" ] || die "no usr/lib/postgresql/*/bin/initdb in $ROOTFS_TAR"

# Debian numbers its service users in the order their packages are installed, so the
# image's are not the host's; the manifests' runAsUser and chown need them (pkg/twin/deploy
# NewKubeletValues reads this label).
IDS=$(tar -xOf "$ROOTFS_TAR" ./etc/passwd | awk -F: '$1 ~ /^(postgres|mysql|redis|memcache)$/ {printf "%s%s=%s:%s", sep, $1, $3, $4; sep=","}')
[ "$(echo "$IDS" | tr ',' '\n' | wc -l)" = 4 ] || die "service users in $ROOTFS_TAR: got '$IDS', want postgres, mysql, redis and memcache"

ROOTFS_IMAGE=$(rootfs_image "$ROOTFS_TAR" localhost/threescale-chaos/twin-rootfs)
printf '%s\n' "$PGBIN" > "$WORK/ctx/pgbin"
cat > "$WORK/ctx/Dockerfile" <<DOCKERFILE
FROM $ROOTFS_IMAGE
COPY threescale-twin /usr/local/bin/threescale-twin
COPY pgbin /etc/threescale-twin/pgbin
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL io.threescale-chaos.twin.pgbin=$PGBIN io.threescale-chaos.twin.ids=$IDS $LABEL=$INPUTS
DOCKERFILE
log "image $IMAGE (PostgreSQL in $PGBIN)"
build "$IMAGE" "$WORK/ctx"
docker tag "$IMAGE" "$REPO_NAME:latest"
# Earlier builds' tags only hold their layers: drop them.
docker image ls --format '{{.Repository}}:{{.Tag}}' "$REPO_NAME" | grep -vx -e "$IMAGE" -e "$REPO_NAME:latest" |
	xargs -r docker rmi >/dev/null 2>&1 || true
log "built $IMAGE"
echo "$IMAGE"
