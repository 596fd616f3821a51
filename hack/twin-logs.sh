#!/usr/bin/env bash
# twin-logs.sh KUBECONFIG OUT_DIR NAMESPACE...: what the twin's pods logged, kept when a run on
# kind failed (make test and make e2e call it before deleting the cluster). Every container's
# log, with timestamps, and its previous one when it restarted, goes to
# OUT_DIR/<namespace>/<pod>.log. Then the lines of the twin's requests that took a second or
# more ("slow request", pkg/twin/system) are printed with the line before each (the error of a
# request that failed), the last 40: a sample that timed out in the harness is either among
# them (the twin was slow, and its error says on what) or not (the request never reached the
# twin, or reached it late).
set -u
kubeconfig=$1 out=$2
shift 2
kubectl=${KUBECTL:-kubectl}
for ns in "$@"; do
	mkdir -p "$out/$ns"
	for pod in $("$kubectl" --kubeconfig "$kubeconfig" -n "$ns" get pods -o name 2>/dev/null); do
		f=$out/$ns/${pod#pod/}.log
		"$kubectl" --kubeconfig "$kubeconfig" -n "$ns" logs "$pod" --all-containers --timestamps >"$f" 2>&1 || true
		"$kubectl" --kubeconfig "$kubeconfig" -n "$ns" logs "$pod" --all-containers --timestamps --previous >"$f.previous" 2>/dev/null || rm -f "$f.previous"
	done
done
n=$(find "$out" -name '*.log*' 2>/dev/null | wc -l)
echo "twin-logs: $n pod logs in $out"
slow=$(cd "$out" 2>/dev/null && grep -r -B1 "slow request" . 2>/dev/null | grep -v '^--$' | tail -40)
if [ -n "$slow" ]; then
	echo "twin-logs: the twin's requests that took a second or more (each after the line before it):"
	printf '%s\n' "$slow"
else
	echo "twin-logs: no request took the twin a second or more"
fi
