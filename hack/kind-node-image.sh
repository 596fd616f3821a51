#!/usr/bin/env bash
# Builds a kind node image with no registry: everything comes from Debian's mirror (the
# root file system, by debootstrap) and the Go module proxy (every binary), and is assembled
# in the local Docker engine. `kind build node-image` cannot do this: it pulls its base image
# and the images it preloads. Users with a registry keep kind's own image; this one is for
# air-gapped machines and for this project's CI, where no registry is reachable.
#
#   hack/kind-node-image.sh            build (or find up to date) the image, print its name
#
# Environment (the Makefile's kind-node-image target sets the first three from go.mod):
#   KUBE_VERSION      Kubernetes release, v1.X.Y, matching client-go        (required)
#   KUBE_BIN_DIR      where hack/build-kube.sh keeps the Kubernetes binaries (required)
#   KIND_VERSION      the sigs.k8s.io/kind release go.mod requires            (required)
#   KIND_NODE_IMAGE   the image to build; default threescale-chaos/kind-node:$KUBE_VERSION
#   KIND_NODE_CACHE   work and cache directory; default ~/.cache/threescale-chaos/kind-node
#   DEBIAN_MIRROR     default http://deb.debian.org/debian
#   DOCKER_HOST       the engine to build in (hack/docker-engine.sh prints it)
#
# What goes in, the way kind's images/base/Dockerfile and pkg/build/nodeimage lay it out:
#   - a Debian bookworm root file system with systemd, iptables, nftables, conntrack,
#     iproute2, runc and the CNI plugins (Debian's containernetworking-plugins);
#   - kind's base files (entrypoint, containerd config, kubelet unit and drop-ins, sysctls,
#     /kind/bin), read from the sigs.k8s.io/kind module at KIND_VERSION, with the same
#     systemd unit pruning, and containerd's sandbox image set to the pause image below;
#   - containerd, ctr, containerd-shim-runc-v2 and crictl built from the module proxy, and
#     CoreDNS with the plugins kubeadm's Corefile uses (hack/kind-node/coredns/main.go);
#     kubelet, kubeadm and kubectl from k8s.io/kubernetes at KUBE_VERSION;
#   - the images kubeadm and kind need, built here and preloaded into the node's containerd
#     with the pinned label, tagged exactly as `kubeadm config images list` prints them:
#     kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy, etcd, coredns,
#     pause; plus local-path-provisioner and its helper for the default StorageClass;
#   - a static bridge CNI configuration in place of kindnetd (not on the module proxy), and
#     /kind/manifests/default-{cni,storage}.yaml that kind applies at cluster creation.
#
# Idempotent: the image carries a label with a digest of its inputs (this script, the files
# in hack/kind-node, the versions, the binaries); when the engine already has an image of
# that name and digest, nothing is built. Cold (empty Go cache): about 25-30 minutes on 2
# cores, mostly the Kubernetes binaries; warm: about 3 minutes.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:?KUBE_VERSION is required, e.g. v1.35.4}
KUBE_BIN_DIR=${KUBE_BIN_DIR:?KUBE_BIN_DIR is required}
KIND_VERSION=${KIND_VERSION:?KIND_VERSION is required, e.g. v0.33.0}
IMAGE=${KIND_NODE_IMAGE:-threescale-chaos/kind-node:$KUBE_VERSION}
CACHE=${KIND_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/threescale-chaos/kind-node}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm

# Versions of what the node runs. containerd, crictl and local-path-provisioner are the
# releases kind v0.33's base image and storage manifest use; etcd, CoreDNS and pause are
# the ones kubeadm at KUBE_VERSION asks for (read from its constants below).
CONTAINERD_VERSION=v2.3.4
CRICTL_VERSION=v1.36.0
LOCAL_PATH_VERSION=v0.0.30

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
BIN="$CACHE/bin"
mkdir -p "$CACHE" "$BIN"

log() { printf '%s kind-node-image: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=hack/lib/image.sh
. "$HERE/lib/image.sh"

command -v docker >/dev/null || die "no docker client on PATH"
command -v debootstrap >/dev/null || die "debootstrap is missing (make kind-deps installs it)"

# The node's root file system: Debian packages, debootstrapped into a cached tarball.
# ROOTFS_ONLY=1 builds that tarball and stops: it is downloads and unpacking, little CPU, so
# make test runs it beside the kube binaries' compile (make kind-rootfs).
PACKAGES=systemd,systemd-sysv,dbus,iptables,nftables,conntrack,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,bash,ca-certificates,jq,procps,e2fsprogs,runc,containernetworking-plugins
if [ -n "${ROOTFS_ONLY:-}" ]; then
	rootfs_tar "$CACHE" "$SUITE" "$PACKAGES" "$MIRROR" >/dev/null
	exit 0
fi

moddir() { go mod download -json "$1" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p'; }

# kubeadm's own choice of etcd, CoreDNS and pause, from its constants at KUBE_VERSION.
KUBE_SRC=$(moddir "k8s.io/kubernetes@$KUBE_VERSION")
[ -d "$KUBE_SRC" ] || die "cannot download k8s.io/kubernetes@$KUBE_VERSION from the module proxy"
constant() { sed -n "s/^\s*$1 = \"\(.*\)\"/\1/p" "$KUBE_SRC/cmd/kubeadm/app/constants/constants.go" | head -1; }
ETCD_TAG=$(constant DefaultEtcdVersion)     # 3.6.6-0
COREDNS_TAG=$(constant CoreDNSVersion)      # v1.13.1
PAUSE_TAG=$(constant PauseVersion)          # 3.10.1
[ -n "$ETCD_TAG" ] && [ -n "$COREDNS_TAG" ] && [ -n "$PAUSE_TAG" ] || die "cannot read kubeadm's image versions"
ETCD_VERSION=v${ETCD_TAG%-*}

KIND_SRC=$(moddir "sigs.k8s.io/kind@$KIND_VERSION")
[ -d "$KIND_SRC/images/base/files" ] || die "sigs.k8s.io/kind@$KIND_VERSION has no images/base/files"

REG=registry.k8s.io
APISERVER_IMAGE=$REG/kube-apiserver:$KUBE_VERSION
CONTROLLER_IMAGE=$REG/kube-controller-manager:$KUBE_VERSION
SCHEDULER_IMAGE=$REG/kube-scheduler:$KUBE_VERSION
PROXY_IMAGE=$REG/kube-proxy:$KUBE_VERSION
ETCD_IMAGE=$REG/etcd:$ETCD_TAG
COREDNS_IMAGE=$REG/coredns/coredns:$COREDNS_TAG
PAUSE_IMAGE=$REG/pause:$PAUSE_TAG
LOCAL_PATH_PROVISIONER_IMAGE=localhost/threescale-chaos/local-path-provisioner:$LOCAL_PATH_VERSION
LOCAL_PATH_HELPER_IMAGE=localhost/threescale-chaos/local-path-helper:$SUITE

# --- binaries -------------------------------------------------------------------------
# Static (CGO_ENABLED=0), so they run in FROM-scratch images and on any node root. Each is
# built once into BIN under a name that carries its version, and the builds that are missing
# run side by side as background jobs, each with its log in LOGS: a cold build is mostly
# compiles of separate module graphs, and one alone leaves a core idle during its downloads,
# module extraction and link. A failed build names itself and shows its log's tail once the
# others have finished (what they built stays cached for the next run). Each job is a process
# group of its own (set -m), so that an interrupted or failing script stops every compile it
# started, not only the subshells.
LOGS="$CACHE/logs"
mkdir -p "$LOGS"
exec 3>&2
set -m
BUILD_PIDS=()
BUILD_NAMES=()
stop_builds() {
	local pid
	for pid in "${BUILD_PIDS[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
	for pid in "${BUILD_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_builds EXIT
# spawn NAME OUT COMMAND...: runs COMMAND in the background unless OUT is there already
# (OUT empty: COMMAND knows itself what is missing).
spawn() {
	local name=$1 out=$2; shift 2
	[ -n "$out" ] && [ -x "$out" ] && return 0
	log "building $name"
	(
		start=$SECONDS
		"$@" # errexit applies inside COMMAND's functions: not in a condition
		log "built $name in $((SECONDS - start)) s" 2>&3
	) > "$LOGS/$name.log" 2>&1 &
	BUILD_PIDS+=("$!")
	BUILD_NAMES+=("$name")
}
# wait_builds: waits for every job spawn started; dies naming those that failed.
wait_builds() {
	local i failed=()
	for i in "${!BUILD_PIDS[@]}"; do
		if ! wait "${BUILD_PIDS[$i]}"; then
			failed+=("${BUILD_NAMES[$i]}")
			log "building ${BUILD_NAMES[$i]} failed; the end of $LOGS/${BUILD_NAMES[$i]}.log:"
			tail -20 "$LOGS/${BUILD_NAMES[$i]}.log" >&2
		fi
	done
	BUILD_PIDS=()
	BUILD_NAMES=()
	[ ${#failed[@]} -eq 0 ] || die "failed to build: ${failed[*]}"
}
# goinstall VERSION DIR MODULE_PATH COMMAND... [-- go build flags...]: installs the module's
# commands MODULE_PATH/COMMAND@VERSION in one go (their shared packages compile once) as
# DIR/COMMAND-VERSION.
goinstall() {
	local version=$1 dir=$2 module=$3; shift 3
	local cmds=() pkgs=() c
	while [ $# -gt 0 ] && [ "$1" != -- ]; do cmds+=("$1"); pkgs+=("$module/$1@$version"); shift; done
	[ $# -eq 0 ] || shift
	local tmp; tmp=$(mktemp -d)
	(cd "$tmp" && GOBIN="$tmp" CGO_ENABLED=0 go install -trimpath -ldflags='-s -w' "$@" "${pkgs[@]}")
	for c in "${cmds[@]}"; do mv "$tmp/$(basename "$c")" "$dir/$(basename "$c")-$version"; done
	rm -rf "$tmp"
}
# modbuild OUT MODULE VERSION TARGET [MAIN.GO]: go build TARGET in a throwaway module that
# requires MODULE at VERSION, with MAIN.GO copied in when TARGET is main.go.
modbuild() {
	local out=$1 module=$2 version=$3 target=$4 main=${5:-}
	local tmp; tmp=$(mktemp -d)
	printf 'module localhost/build\n\ngo 1.24\n\nrequire %s %s\n' "$module" "$version" > "$tmp/go.mod"
	[ -z "$main" ] || cp "$main" "$tmp/main.go"
	(cd "$tmp" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags='-s -w' -o out "$target")
	mv "$tmp/out" "$out"
	rm -rf "$tmp"
}

CONTAINERD_TAGS=(-tags 'no_btrfs no_devmapper no_zfs no_aufs')
CONTAINERD="$BIN/containerd-$CONTAINERD_VERSION"
CTR="$BIN/ctr-$CONTAINERD_VERSION"
SHIM="$BIN/containerd-shim-runc-v2-$CONTAINERD_VERSION"
CRICTL="$BIN/crictl-$CRICTL_VERSION"
# CoreDNS with the plugins kubeadm's Corefile uses (hack/kind-node/coredns/main.go says why
# not CoreDNS's own main), in a throwaway module that requires CoreDNS's release: every
# package at the version CoreDNS's build uses.
COREDNS="$BIN/coredns-$COREDNS_TAG-$(sha256sum "$HERE/kind-node/coredns/main.go" | cut -c1-12)"
LOCAL_PATH="$BIN/local-path-provisioner-$LOCAL_PATH_VERSION"
# etcd's server module replaces its sibling modules by ../ paths, which `go install
# pkg@version` refuses; a throwaway module requiring it resolves them to the same release.
ETCD="$BIN/etcd-$ETCD_VERSION"
PAUSE="$BIN/pause-$(sha256sum "$HERE/kind-node/pause/main.go" | cut -c1-12)"

# COMPONENTS_ONLY=1 builds these and stops, leaving the Kubernetes binaries to whoever builds
# them beside it (make test: `make kube-binaries` with all seven, in the same parallel step).
if [ -z "${COMPONENTS_ONLY:-}" ]; then
	spawn kube "" env KUBE_BINARIES="kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kubeadm kube-proxy" \
		KUBE_VERSION="$KUBE_VERSION" KUBE_BIN_DIR="$KUBE_BIN_DIR" bash "$HERE/build-kube.sh"
fi
# containerd, ctr and the shim: one job, since they share most of their packages; the job
# counts as done when all three are there.
[ -x "$CTR" ] && [ -x "$SHIM" ] || rm -f "$CONTAINERD"
spawn containerd "$CONTAINERD" goinstall "$CONTAINERD_VERSION" "$BIN" github.com/containerd/containerd/v2/cmd \
	containerd ctr containerd-shim-runc-v2 -- "${CONTAINERD_TAGS[@]}"
spawn crictl "$CRICTL" goinstall "$CRICTL_VERSION" "$BIN" sigs.k8s.io/cri-tools/cmd crictl
spawn coredns "$COREDNS" modbuild "$COREDNS" github.com/coredns/coredns "$COREDNS_TAG" main.go "$HERE/kind-node/coredns/main.go"
spawn local-path-provisioner "$LOCAL_PATH" goinstall "$LOCAL_PATH_VERSION" "$BIN" github.com/rancher local-path-provisioner
spawn etcd "$ETCD" modbuild "$ETCD" go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3
spawn pause "$PAUSE" bash -c 'cd "$1" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$2" ./hack/kind-node/pause' pause "$REPO" "$PAUSE"
wait_builds
trap - EXIT
set +m
if [ -n "${COMPONENTS_ONLY:-}" ]; then
	log "the node's components are built in $BIN"
	exit 0
fi

# The binaries are cached; everything from here on happens in the engine.
docker info >/dev/null 2>&1 || die "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unset}); start one with hack/docker-engine.sh up"

# --- the inputs' digest -----------------------------------------------------------------
INPUTS=$( {
	echo "$KUBE_VERSION $KIND_VERSION $SUITE $CONTAINERD_VERSION $CRICTL_VERSION $LOCAL_PATH_VERSION $ETCD_TAG $COREDNS_TAG $PAUSE_TAG"
	cat "$0" "$HERE/lib/image.sh" "$HERE"/kind-node/*.yaml "$HERE"/kind-node/*.conflist
	for f in kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kubeadm kube-proxy; do
		sha256sum "$KUBE_BIN_DIR/$f" | cut -d' ' -f1
	done
	sha256sum "$CONTAINERD" "$CTR" "$SHIM" "$CRICTL" "$COREDNS" "$LOCAL_PATH" "$ETCD" "$PAUSE" | cut -d' ' -f1
	(cd "$KIND_SRC/images/base/files" && find . -type f | sort | xargs sha256sum)
} | sha256sum | cut -c1-16)
LABEL=io.threescale-chaos.kind-node.inputs
if up_to_date "$IMAGE" "$LABEL" "$INPUTS"; then
	log "$IMAGE is up to date (inputs $INPUTS)"
	echo "$IMAGE"
	exit 0
fi

# --- root file system -----------------------------------------------------------------
ROOTFS_TAR=$(rootfs_tar "$CACHE" "$SUITE" "$PACKAGES" "$MIRROR")
ROOTFS_IMAGE=$(rootfs_image "$ROOTFS_TAR" localhost/threescale-chaos/kind-rootfs)

# --- images ---------------------------------------------------------------------------
# The legacy builder (build, in hack/lib/image.sh): it needs nothing but the engine and the
# local base images.
export DOCKER_BUILDKIT=0
WORK=$(mktemp -d "$CACHE/build.XXXXXX")
BUILD_CONTAINER=""
cleanup() {
	[ -n "$BUILD_CONTAINER" ] && docker rm -f -v "$BUILD_CONTAINER" >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT

image() { # image NAME BASE BINARY... -- ENTRYPOINT...
	local name=$1 base=$2; shift 2
	local ctx="$WORK/image-$RANDOM"
	mkdir -p "$ctx/bin"
	while [ "$1" != -- ]; do cp "$1" "$ctx/bin/"; shift; done
	touch "$ctx/bin/.keep"
	shift
	local entry; entry=$(printf '"%s",' "$@"); entry=[${entry%,}]
	{
		echo "FROM $base"
		echo "COPY bin/ /usr/local/bin/"
		echo "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
		echo "ENTRYPOINT $entry"
		echo "LABEL $LABEL=$INPUTS"
	} > "$ctx/Dockerfile"
	log "image $name"
	build "$name" "$ctx"
}

install_as() { local d="$WORK/as/$2"; mkdir -p "$d"; cp "$1" "$d/$3"; printf '%s' "$d/$3"; }

image "$APISERVER_IMAGE" scratch "$KUBE_BIN_DIR/kube-apiserver" -- kube-apiserver
image "$CONTROLLER_IMAGE" scratch "$KUBE_BIN_DIR/kube-controller-manager" -- kube-controller-manager
image "$SCHEDULER_IMAGE" scratch "$KUBE_BIN_DIR/kube-scheduler" -- kube-scheduler
# kube-proxy programs iptables through the iptables commands: it runs on the root file system.
image "$PROXY_IMAGE" "$ROOTFS_IMAGE" "$KUBE_BIN_DIR/kube-proxy" -- kube-proxy
image "$ETCD_IMAGE" scratch "$(install_as "$ETCD" etcd etcd)" -- etcd
image "$COREDNS_IMAGE" scratch "$(install_as "$COREDNS" coredns coredns)" -- /usr/local/bin/coredns
image "$PAUSE_IMAGE" scratch "$(install_as "$PAUSE" pause pause)" -- /usr/local/bin/pause
image "$LOCAL_PATH_PROVISIONER_IMAGE" scratch "$(install_as "$LOCAL_PATH" local-path local-path-provisioner)" -- local-path-provisioner
# The helper pod runs the setup and teardown shell scripts of local-path-config.
image "$LOCAL_PATH_HELPER_IMAGE" "$ROOTFS_IMAGE" -- /bin/sh
PRELOAD=("$APISERVER_IMAGE" "$CONTROLLER_IMAGE" "$SCHEDULER_IMAGE" "$PROXY_IMAGE" "$ETCD_IMAGE"
	"$COREDNS_IMAGE" "$PAUSE_IMAGE" "$LOCAL_PATH_PROVISIONER_IMAGE" "$LOCAL_PATH_HELPER_IMAGE")

# --- the node -------------------------------------------------------------------------
ctx="$WORK/node"
mkdir -p "$ctx/root/usr/local/bin" "$ctx/root/usr/bin" "$ctx/root/kind/manifests" "$ctx/root/etc/cni/net.d"
cp -r "$KIND_SRC/images/base/files/." "$ctx/root/"
chmod -R u+w "$ctx/root"
find "$ctx/root" -type d -exec chmod 0755 {} +
find "$ctx/root" -type f -exec chmod 0644 {} +
chmod 0755 "$ctx/root/usr/local/bin/"* "$ctx/root/kind/bin/"*
sed -i "s#^\(\s*sandbox_image = \).*#\1\"$PAUSE_IMAGE\"#" "$ctx/root/etc/containerd/config.toml"
grep -q "sandbox_image = \"$PAUSE_IMAGE\"" "$ctx/root/etc/containerd/config.toml" ||
	die "kind's containerd config at $KIND_VERSION has no sandbox_image line to set"
install -m 0755 "$CONTAINERD" "$ctx/root/usr/local/bin/containerd"
install -m 0755 "$CTR" "$ctx/root/usr/local/bin/ctr"
install -m 0755 "$SHIM" "$ctx/root/usr/local/bin/containerd-shim-runc-v2"
install -m 0755 "$CRICTL" "$ctx/root/usr/local/bin/crictl"
for b in kubelet kubeadm kubectl; do install -m 0755 "$KUBE_BIN_DIR/$b" "$ctx/root/usr/bin/$b"; done
install -m 0644 "$HERE/kind-node/10-threescale-chaos-bridge.conflist" "$ctx/root/etc/cni/net.d/"
install -m 0644 "$HERE/kind-node/default-cni.yaml" "$ctx/root/kind/manifests/default-cni.yaml"
sed -e "s#LOCAL_PATH_PROVISIONER_IMAGE#$LOCAL_PATH_PROVISIONER_IMAGE#g" -e "s#LOCAL_PATH_HELPER_IMAGE#$LOCAL_PATH_HELPER_IMAGE#g" \
	"$HERE/kind-node/default-storage.yaml" > "$ctx/root/kind/manifests/default-storage.yaml"
printf '%s' "$KUBE_VERSION" > "$ctx/root/kind/version"
cat > "$ctx/Dockerfile" <<EOF
FROM $ROOTFS_IMAGE
COPY root/ /
# The same pruning as kind's base image: systemd starts only what a node needs.
RUN find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete \\
 && rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \\
    /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \\
    /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/* \\
 && echo ReadKMsg=no >> /etc/systemd/journald.conf \\
 && ln -sf /usr/lib/systemd/systemd /sbin/init \\
 && systemctl enable kubelet.service containerd.service undo-mount-hacks.service \\
 && systemctl mask systemd-binfmt.service \\
 && mkdir -p /etc/kubernetes/manifests /opt/cni/bin \\
 && cp -a /usr/lib/cni/. /opt/cni/bin/ \\
 && ctr oci spec | jq '.hooks.createContainer += [{"path": "/kind/bin/mount-product-files.sh"}] | del(.process.rlimits)' > /etc/containerd/cri-base.json
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
EOF
log "node file system"
STAGE=localhost/threescale-chaos/kind-node-stage:$INPUTS
build "$STAGE" "$ctx"

# Preload: containerd runs in a build container of the staged node and imports the images,
# pinned so that the kubelet's image garbage collection leaves them; then the container is
# committed as the node image (what kind's nodeimage builder does with pulled images).
log "preloading ${#PRELOAD[@]} images into the node's containerd"
BUILD_CONTAINER=$(docker run -d --privileged --entrypoint=sleep "$STAGE" infinity)
docker exec "$BUILD_CONTAINER" bash -c 'nohup containerd > /var/log/containerd-build.log 2>&1 &'
docker exec "$BUILD_CONTAINER" bash -c 'for i in $(seq 1 100); do ctr version >/dev/null 2>&1 && exit 0; sleep 0.1; done; cat /var/log/containerd-build.log; exit 1' ||
	die "containerd did not start in the build container"
docker save "${PRELOAD[@]}" | docker exec -i "$BUILD_CONTAINER" \
	ctr --namespace=k8s.io images import --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack - > "$CACHE/import.log" 2>&1 ||
	{ tail -20 "$CACHE/import.log" >&2; die "ctr images import failed (log: $CACHE/import.log)"; }
missing=$(docker exec "$BUILD_CONTAINER" ctr --namespace=k8s.io images list -q | sort | comm -13 - <(printf '%s\n' "${PRELOAD[@]}" | sort) || true)
[ -z "$missing" ] || die "images missing after the import: $missing"
# sleep, the container's PID 1, reaps nothing: containerd stays a zombie once it has exited.
docker exec "$BUILD_CONTAINER" bash -c 'pkill -x containerd; for i in $(seq 1 100); do ps -o stat= -C containerd | grep -q "^[^Z]" || exit 0; sleep 0.1; done; exit 1' ||
	die "containerd did not stop in the build container"
docker commit \
	--change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' \
	--change 'CMD []' \
	--change "LABEL $LABEL=$INPUTS" \
	"$BUILD_CONTAINER" "$IMAGE" >/dev/null
# The staged file system is inside the node image now; drop it, and those of earlier builds.
docker image ls -q localhost/threescale-chaos/kind-node-stage | sort -u | xargs -r docker rmi -f >/dev/null 2>&1 || true
log "built $IMAGE (inputs $INPUTS)"
echo "$IMAGE"
