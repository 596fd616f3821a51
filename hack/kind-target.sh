#!/usr/bin/env bash
# The target file for 3scale (the twin) on kind, written the way the README tells a user to write
# one for their own cluster, so that `make e2e` proves those steps and not a shortcut:
#
#   hack/kind-target.sh ADMIN_KUBECONFIG OUT_DIR [NAMESPACE]
#
#   1. the harness's least-privilege RBAC, fixtures/rbac/, applied with the admin's kubeconfig
#      (moved to NAMESPACE, default 3scale, as the fixtures tell a user to move it);
#   2. OUT_DIR/sa-kubeconfig: the cluster of ADMIN_KUBECONFIG with a bound token of the
#      ServiceAccount threescale-chaos (TokenRequest, `kubectl create token`), so that every
#      later call, the harness's and the tests', is made as that ServiceAccount;
#   3. OUT_DIR/override.yaml: only what discovery cannot know: that kubeconfig and the upstream
#      (the echo API the harness's product proxies to);
#   4. OUT_DIR/target.yaml: `threescale-chaos discover` run as the ServiceAccount. It may not
#      list Nodes (the ClusterRole gets one Namespace), so --node-address says where the node
#      ports are: 127.0.0.1, where kind-config.yaml publishes them, unless
#      THREESCALE_CHAOS_NODE_ADDRESS names another address (the node container's, for a
#      cluster made without those port mappings). Discover's notes go to OUT_DIR/discover.log.
#
# Needs bin/threescale-chaos (make build) and kubectl ($KUBECTL, default: on PATH).
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
	echo "usage: $0 ADMIN_KUBECONFIG OUT_DIR [NAMESPACE]" >&2
	exit 2
fi
admin=$1 out=$2 ns=${3:-3scale}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kubectl=${KUBECTL:-kubectl}
# How long the ServiceAccount's token lives: the whole matrix and the CLI's tests, with room.
duration=${THREESCALE_CHAOS_TOKEN_DURATION:-4h}
# Where this machine reaches the node ports: kind-config.yaml publishes them on 127.0.0.1.
node_address=${THREESCALE_CHAOS_NODE_ADDRESS:-127.0.0.1}
say() { echo "kind-target: $*" >&2; }

[ -r "$admin" ] || { say "no kubeconfig $admin"; exit 2; }
[ -x "$repo/bin/threescale-chaos" ] || { say "no $repo/bin/threescale-chaos: run make build"; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
k() { "$kubectl" --kubeconfig "$admin" "$@"; }

# A namespace name is a DNS label (it goes into sed below and into object names).
if ! [[ $ns =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || [ ${#ns} -gt 63 ]; then
	say "namespace $ns: want a DNS label (lower-case letters, digits and -)"
	exit 2
fi
if [ "$ns" = 3scale ]; then
	k apply -f "$repo/fixtures/rbac/" >&2
else
	# fixtures/rbac is written for namespace 3scale; for another, it says to change every
	# `namespace: 3scale` and clusterrole.yaml's resourceNames. The two cluster-scoped objects
	# also get the namespace in their names, so that each namespace's grant stands beside the
	# other's (two 3scale installs, or a second twin, in one cluster).
	rbac=$(for f in "$repo"/fixtures/rbac/*.yaml; do
		echo ---
		sed -e "s/^\(  namespace:\) 3scale\$/\1 $ns/" \
			-e "s/^\(  resourceNames:\) \[\"3scale\"\]\$/\1 [\"$ns\"]/" \
			-e "s/^\(  name: threescale-chaos-namespace-reader\)\$/\1-$ns/" "$f"
	done)
	# Every namespaced object and the one resource name must have moved: a fixture edited
	# without this script would otherwise grant the other namespace, silently.
	left=$(grep -nE '(namespace: 3scale|"3scale")$|\["3scale"\]' <<<"$rbac" || true)
	if [ -n "$left" ]; then
		say "fixtures/rbac still names namespace 3scale after moving it to $ns:"
		echo "$left" >&2
		exit 1
	fi
	k apply -f - <<<"$rbac" >&2
fi
token=$(k -n "$ns" create token threescale-chaos --duration "$duration")

server=$(k config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')
ca=$(k config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
umask 077
cat >"$out/sa-kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kind
  cluster:
    server: $server
    certificate-authority-data: $ca
users:
- name: threescale-chaos
  user:
    token: $token
contexts:
- name: threescale-chaos
  context: {cluster: kind, user: threescale-chaos, namespace: $ns}
current-context: threescale-chaos
EOF
whoami=$("$kubectl" --kubeconfig "$out/sa-kubeconfig" auth whoami -o jsonpath='{.status.userInfo.username}')
say "sa-kubeconfig authenticates as $whoami"

cat >"$out/override.yaml" <<EOF
# What discovery cannot know (written by hack/kind-target.sh): whose credentials the harness
# uses, and the echo API its product proxies to.
kubeconfig: $out/sa-kubeconfig
upstream:
  url: http://echo-api.$ns.svc.cluster.local:8080
EOF
"$repo/bin/threescale-chaos" discover --namespace "$ns" --kubeconfig "$out/sa-kubeconfig" \
	--node-address "$node_address" --override "$out/override.yaml" --output "$out/target.yaml" 2>"$out/discover.log" ||
	{ cat "$out/discover.log" >&2; exit 1; }
# The harness runs outside the cluster: an endpoint left at an in-cluster Service name means
# discover did not find the NodePort in front of it, and every scenario would end INVALID.
# (The upstream is in-cluster on purpose: only the gateways call it.)
inside=$(awk '/^[^[:space:]#]/ { top = $1 } top != "upstream:" && /^[[:space:]]+url: https?:\/\/[^\/]*\.svc[:\/.]/' "$out/target.yaml")
if [ -n "$inside" ]; then
	cat "$out/discover.log" >&2
	say "discover left in-cluster URLs in $out/target.yaml, which this machine cannot reach:"
	echo "$inside" >&2
	exit 1
fi
say "wrote $out/target.yaml (discover's notes: $out/discover.log)"
