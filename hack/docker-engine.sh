#!/usr/bin/env bash
# A Docker engine for kind on a machine where none runs: hack/docker-engine.sh up|down|status
#
#   up              use the engine that already answers (the user's Docker or Podman, through
#                   their DOCKER_HOST or the default socket), untouched; else start our own
#                   dockerd (Debian's docker.io) and create the `kind` network without
#                   masquerade. Prints `export DOCKER_HOST=...` on stdout (messages go to
#                   stderr: eval "$(hack/docker-engine.sh up)") and writes it to
#                   $STATE/docker.env (`source` it). A second `up` with ours running does nothing.
#   down [--purge]  only if the engine is ours (its pidfile): remove its containers, stop dockerd
#                   by PID, remove the bridges, DOCKER* iptables chains and runtime directory it
#                   leaves, put back IP forwarding and the FORWARD policy as up found them;
#                   --purge also removes its data-root (the image cache).
#   status          whether an engine answers, whose, and its DOCKER_HOST (exit 1: none does).
#
# Our dockerd differs from a stock one where the project's machines need it
# (research/kind-offline.md, section B):
#   - root there lacks CAP_SYS_RESOURCE: --oom-score-adjust=0 (no negative oom_score_adj), and
#     hack/runc-wrapper as the default runtime, which drops CAP_SYS_RESOURCE from what a
#     container asks for, without which `docker run --privileged` (kind's nodes) fails with
#     "unable to apply caps: operation not permitted";
#   - traffic stays on the machine: --dns 127.0.0.1, --ip-masq=false, the kind network without
#     masquerade, and a DOCKER-USER rule dropping what containers send out of the interface of
#     the default route.
# It has its own data-root, exec-root, pidfile, socket and config file (an empty one, so
# /etc/docker/daemon.json does not apply), under two directories:
#   THREESCALE_DOCKER_STATE  data-root, the wrapper, the log, docker.env
#                            (default ${XDG_CACHE_HOME:-$HOME/.cache}/threescale-chaos/docker)
#   THREESCALE_DOCKER_RUN    socket, pidfile, exec-root (default /run/threescale-chaos; keep it
#                            short: containerd's sockets live under it)
# dockerd 20.10 supervises its own containerd, unless /run/containerd/containerd.sock exists:
# then it uses that one (status says so).
#
# Needs root, dockerd (Debian's docker.io: `make engine-deps`), iptables, a docker client
# and Go (to build the wrapper).
set -euo pipefail

cache_home=${XDG_CACHE_HOME:-$HOME/.cache}
STATE=${THREESCALE_DOCKER_STATE:-$cache_home/threescale-chaos/docker}
RUN=${THREESCALE_DOCKER_RUN:-/run/threescale-chaos}
SOCK=$RUN/docker.sock
OUR_HOST=unix://$SOCK
PIDFILE=$RUN/dockerd.pid
EXEC_ROOT=$RUN/exec
DATA_ROOT=$STATE/data
WRAPPER=$STATE/bin/tcrunc
LOG=$STATE/dockerd.log
ENV_FILE=$STATE/docker.env
# How long up waits for dockerd to answer, and down for it to exit after SIGTERM.
START_TIMEOUT=${THREESCALE_DOCKER_START_TIMEOUT:-60}
STOP_TIMEOUT=${THREESCALE_DOCKER_STOP_TIMEOUT:-20}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Messages go to stderr, so that stdout is only the export line: eval "$(... up)" works.
say() { echo "docker-engine: $*" >&2; }
die() {
	echo "docker-engine: $*" >&2
	exit 1
}

# lock: one up or down at a time for this state directory (held until the script exits).
lock() {
	mkdir -p "$STATE"
	exec 9>"$STATE/.lock"
	flock 9
}

# answers HOST: a Docker API answers at HOST ("" = the caller's environment as it is).
answers() {
	if [ -n "$1" ]; then
		DOCKER_HOST=$1 timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
	else
		timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
	fi
}

# our_pid prints the PID of our dockerd when it runs (its pidfile names a live dockerd).
our_pid() {
	local pid
	[ -f "$PIDFILE" ] || return 1
	pid=$(cat "$PIDFILE")
	[ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] || return 1
	echo "$pid"
}

# ours: docker against our engine.
ours() { DOCKER_HOST=$OUR_HOST docker "$@"; }

write_env() {
	mkdir -p "$STATE"
	if [ -n "$1" ]; then
		echo "export DOCKER_HOST=$1" >"$ENV_FILE"
	else
		echo "# the default Docker socket answers: DOCKER_HOST stays unset" >"$ENV_FILE"
	fi
}

# wait_answer PID: polls until our dockerd answers; fails early if PID exits.
wait_answer() {
	local pid=$1 deadline=$((SECONDS + START_TIMEOUT))
	until answers "$OUR_HOST"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$LOG" >&2 || true
			die "dockerd (PID $pid) exited before answering; log: $LOG"
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			tail -n 20 "$LOG" >&2 || true
			die "dockerd (PID $pid) did not answer at $OUR_HOST within ${START_TIMEOUT}s; log: $LOG"
		fi
		sleep 0.1
	done
}

# outside_rule: containers may not send anything out of the default route's interface.
outside_rule() {
	local dev
	dev=$(ip route show default 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "dev") {print $(i + 1); exit}}')
	[ -n "$dev" ] || return 0
	iptables -C DOCKER-USER -o "$dev" -j DROP 2>/dev/null || iptables -I DOCKER-USER -o "$dev" -j DROP
}

up() {
	local pid
	if pid=$(our_pid); then
		wait_answer "$pid"
		write_env "$OUR_HOST"
		say "ours already runs (PID $pid)"
		echo "export DOCKER_HOST=$OUR_HOST"
		return
	fi
	if answers ""; then
		write_env "${DOCKER_HOST:-}"
		say "an engine already answers at ${DOCKER_HOST:-the default socket}: used as is"
		[ -z "${DOCKER_HOST:-}" ] || echo "export DOCKER_HOST=$DOCKER_HOST"
		return
	fi
	[ "$(id -u)" = 0 ] || die "starting dockerd needs root"
	command -v dockerd >/dev/null || die "no dockerd: install Debian's docker.io (make engine-deps)"
	mkdir -p "$STATE/bin" "$DATA_ROOT" "$RUN" "$EXEC_ROOT"
	rm -f "$SOCK" "$PIDFILE"
	(cd "$REPO" && go build -o "$WRAPPER" ./hack/runc-wrapper)
	echo '{}' >"$STATE/daemon.json"
	# dockerd turns IP forwarding on and sets the FORWARD policy to DROP; down puts them back.
	{
		echo "ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)"
		echo "forward_policy=$(iptables -S FORWARD | awk '$1 == "-P" {print $3}')"
	} >"$RUN/host-before"
	say "starting dockerd (log: $LOG)"
	# setsid: dockerd outlives this script and the terminal that ran it.
	setsid dockerd \
		--config-file "$STATE/daemon.json" \
		--data-root "$DATA_ROOT" \
		--exec-root "$EXEC_ROOT" \
		--pidfile "$PIDFILE" \
		-H "$OUR_HOST" \
		--oom-score-adjust=0 \
		--ip-masq=false \
		--dns 127.0.0.1 \
		--add-runtime "tcrunc=$WRAPPER" \
		--default-runtime tcrunc \
		</dev/null >>"$LOG" 2>&1 9>&- &
	pid=$!
	wait_answer "$pid"
	outside_rule
	if ! ours network inspect kind >/dev/null 2>&1; then
		ours network create -o com.docker.network.bridge.enable_ip_masquerade=false kind >/dev/null
	fi
	write_env "$OUR_HOST"
	say "ours runs (PID $pid); env: $ENV_FILE"
	echo "export DOCKER_HOST=$OUR_HOST"
}

# restore_host: IP forwarding and the FORWARD policy as up found them.
restore_host() {
	local ip_forward="" forward_policy=""
	[ -f "$RUN/host-before" ] || return 0
	# shellcheck source=/dev/null # written by up
	. "$RUN/host-before"
	[ -z "$forward_policy" ] || iptables -P FORWARD "$forward_policy" || true
	[ -z "$ip_forward" ] || echo "$ip_forward" >/proc/sys/net/ipv4/ip_forward || true
}

# unmount_under DIR: lazily unmounts what is still mounted under DIR, deepest first.
unmount_under() {
	awk -v d="$1/" 'index($2 "/", d) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do
		umount -l "$m" || true
	done
}

# remove_iptables BRIDGE...: the DOCKER* chains of the filter and nat tables, the rules that
# jump to them, and the rules for the bridges named.
remove_iptables() {
	local t rule chain match='/ -j DOCKER/' b
	for b in "$@"; do match="$match || / -[io] $b( |\$)/"; done
	for t in filter nat; do
		{ iptables -t "$t" -S 2>/dev/null || true; } | awk '$1 == "-A" && $2 !~ /^DOCKER/ && ('"$match"')' | while read -r rule; do
			# shellcheck disable=SC2086 # the rule is iptables-save words, split on purpose
			iptables -t "$t" ${rule/-A/-D} || true
		done
		for chain in $(iptables -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^DOCKER/ {print $2}'); do
			iptables -t "$t" -F "$chain" || true
		done
		for chain in $(iptables -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^DOCKER/ {print $2}'); do
			iptables -t "$t" -X "$chain" || true
		done
	done
}

down() {
	local purge=${1:-} pid bridges=() net name containerd_pid deadline
	if ! pid=$(our_pid); then
		say "ours does not run (no live dockerd in $PIDFILE); nothing stopped"
		[ "$purge" != --purge ] || purge_data
		return
	fi
	if answers "$OUR_HOST"; then
		# The bridges our networks use, asked before they go: docker0 and br-<id>.
		for net in $(ours network ls -q --filter driver=bridge); do
			name=$(ours network inspect -f '{{index .Options "com.docker.network.bridge.name"}}' "$net")
			bridges+=("${name:-br-${net:0:12}}")
		done
		local ids
		ids=$(ours ps -aq)
		[ -z "$ids" ] || ours rm -f $ids >/dev/null
	fi
	containerd_pid=$(cat "$EXEC_ROOT/containerd/containerd.pid" 2>/dev/null || true)
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$((SECONDS + STOP_TIMEOUT))
	while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then
		say "dockerd (PID $pid) still runs after ${STOP_TIMEOUT}s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	fi
	# The containerd dockerd supervised stops with it; after a SIGKILL it may not have.
	if [ -n "$containerd_pid" ] && [ "$(cat "/proc/$containerd_pid/comm" 2>/dev/null)" = containerd ]; then
		kill -TERM "$containerd_pid" 2>/dev/null || true
	fi
	for name in "${bridges[@]}"; do
		ip link del "$name" 2>/dev/null || true
	done
	remove_iptables "${bridges[@]}"
	restore_host
	unmount_under "$RUN"
	rm -rf "$RUN"
	say "stopped ours (PID $pid)"
	[ "$purge" != --purge ] || purge_data
}

purge_data() {
	unmount_under "$DATA_ROOT"
	rm -rf "$STATE"
	say "removed $STATE"
}

status() {
	local pid
	if pid=$(our_pid) && answers "$OUR_HOST"; then
		local containerd=supervised
		[ -S "$EXEC_ROOT/containerd/containerd.sock" ] || containerd="the system's (/run/containerd)"
		say "ours answers (PID $pid, data-root $DATA_ROOT, containerd: $containerd)"
		echo "export DOCKER_HOST=$OUR_HOST"
	elif [ -n "${pid:-}" ]; then
		say "ours runs (PID $pid) but does not answer at $OUR_HOST; log: $LOG"
		return 1
	elif answers ""; then
		say "the user's engine answers at ${DOCKER_HOST:-the default socket} (not ours)"
		[ -z "${DOCKER_HOST:-}" ] || echo "export DOCKER_HOST=$DOCKER_HOST"
	else
		say "no engine answers"
		return 1
	fi
}

case "${1:-}" in
up)
	lock
	up
	;;
down)
	lock
	down "${2:-}"
	;;
status) status ;;
*)
	echo "usage: $0 up | down [--purge] | status" >&2
	exit 2
	;;
esac
