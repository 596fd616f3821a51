#!/usr/bin/env bash
# Builds Kubernetes binaries from the k8s.io/kubernetes module at KUBE_VERSION into
# KUBE_BIN_DIR, those of KUBE_BINARIES that are not already there. The default set is what
# the twin's control plane needs (kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl); hack/kind-node-image.sh asks for kubelet, kubeadm and kube-proxy too.
#
# The binaries are static (CGO_ENABLED=0), as Kubernetes' own releases are: the same files
# run on this machine and in the FROM-scratch images of the kind node, whatever glibc either
# has. A directory filled before that rule (no .static stamp) is rebuilt once.
#
# k8s.io/kubernetes cannot be required as-is: its go.mod replaces every staging module
# (k8s.io/api, k8s.io/apiserver, ...) by a local ./staging path. A throwaway module
# requires it and points each of those replaces at the published v0.X.Y release instead.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:?KUBE_VERSION is required, e.g. v1.35.4}
KUBE_BIN_DIR=${KUBE_BIN_DIR:?KUBE_BIN_DIR is required}
read -r -a WANTED <<< "${KUBE_BINARIES:-kube-apiserver kube-controller-manager kube-scheduler kubectl}"

mkdir -p "$KUBE_BIN_DIR"
if [ ! -e "$KUBE_BIN_DIR/.static" ]; then
	for b in kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kubeadm kube-proxy; do
		rm -f "$KUBE_BIN_DIR/$b"
	done
	touch "$KUBE_BIN_DIR/.static"
fi

BINARIES=()
for b in "${WANTED[@]}"; do
	[ -x "$KUBE_BIN_DIR/$b" ] || BINARIES+=("$b")
done
if [ ${#BINARIES[@]} -eq 0 ]; then
	echo "kube binaries $KUBE_VERSION (${WANTED[*]}) already in $KUBE_BIN_DIR"
	exit 0
fi

staging_version="v0.${KUBE_VERSION#v1.}"
minor=$(echo "$KUBE_VERSION" | cut -d. -f2)
# A work directory of its own: two builds side by side (different sets of binaries) do not
# share one.
rm -rf "$KUBE_BIN_DIR/.build"
work=$(mktemp -d "$KUBE_BIN_DIR/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

cat > go.mod <<MOD
module localhost/kubebuild

go 1.25.0

require k8s.io/kubernetes $KUBE_VERSION
MOD

modfile=$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
[ -f "$modfile" ] || { echo "cannot find go.mod of k8s.io/kubernetes@$KUBE_VERSION" >&2; exit 1; }

{
	echo "replace ("
	grep -E '^\s+k8s\.io/[a-z0-9-]+ => \./staging/' "$modfile" | awk -v v="$staging_version" '{print "\t" $1 " => " $1 " " v}'
	echo ")"
} >> go.mod

ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
# One go build for all of them: it compiles their shared packages once and links each binary
# as soon as its packages are ready, beside the other binaries' compiles (-o DIR/ names each
# binary after its package's last path element, which is the binary's name).
pkgs=()
for b in "${BINARIES[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
echo "building ${BINARIES[*]} $KUBE_VERSION (a cold build of the twin's four takes about 10 minutes on 2 cores)"
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$work/" "${pkgs[@]}"
for b in "${BINARIES[@]}"; do
	mv "$work/$b" "$KUBE_BIN_DIR/$b"
done
rm -rf "$work"
echo "kube binaries $KUBE_VERSION built into $KUBE_BIN_DIR"
