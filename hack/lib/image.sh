# Sourced by the scripts that build images with no registry (hack/kind-node-image.sh,
# hack/twin-image.sh): a Debian root file system from debootstrap, imported into the engine
# as a base image, the legacy builder, and the label that says an image is up to date.
# The caller defines log and die, sets -euo pipefail, and has checked for docker and
# debootstrap.

# rootfs_tar CACHE SUITE PACKAGES MIRROR: prints the path of a tarball of a debootstrap
# --variant=minbase root of SUITE with PACKAGES (comma-separated) and their dependencies,
# made once per package list and kept in CACHE (40-70 s plus downloads when it is not there).
rootfs_tar() {
	local cache=$1 suite=$2 packages=$3 mirror=$4
	local tar root
	tar="$cache/rootfs-$suite-$(echo "$packages" | sha256sum | cut -c1-12).tar"
	if [ ! -s "$tar" ]; then
		log "debootstrap $suite from $mirror (about 40 s plus downloads)"
		root=$(mktemp -d "$cache/rootfs.XXXXXX")
		debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" > "$cache/debootstrap.log" 2>&1 ||
			{ tail -20 "$cache/debootstrap.log" >&2; rm -rf "$root"; die "debootstrap failed (log: $cache/debootstrap.log)"; }
		rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
		tar -C "$root" --numeric-owner -cf "$tar.tmp" .
		mv "$tar.tmp" "$tar"
		rm -rf "$root"
	fi
	printf '%s' "$tar"
}

# rootfs_image TAR REPOSITORY: imports TAR as REPOSITORY:<TAR's base name> unless the engine
# has it, and prints that name.
rootfs_image() {
	local image
	image=$2:$(basename "$1" .tar)
	if ! docker image inspect "$image" >/dev/null 2>&1; then
		log "importing the root file system as $image"
		docker import "$1" "$image" >/dev/null
	fi
	printf '%s' "$image"
}

# up_to_date IMAGE LABEL INPUTS: true when the engine has IMAGE and its LABEL is INPUTS.
up_to_date() {
	[ "$(docker image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true)" = "$3" ]
}

# build TAG DIR: docker build with the legacy builder (it needs nothing but the engine and
# the local base images), quiet unless it fails (the client's notice that the legacy builder
# is deprecated is not news).
build() {
	local out
	out=$(DOCKER_BUILDKIT=0 docker build -q -t "$1" "$2" 2>&1) || { printf '%s\n' "$out" >&2; die "docker build $1 failed"; }
}
