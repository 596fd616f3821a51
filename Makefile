# threescale-chaos: a chaos harness for 3scale API Management, and the local twin it is proved on.
#
#   make deps    Debian packages + kube binaries (idempotent; the first set-up step)
#   make test    deps, vet, every test, then the outage suite on a kind cluster built here (what CI runs)
#   make e2e     the 3scale twin on kind, the outage suite and the CLI's end-to-end tests against it
#   make demo    deps, the twin, the full outage matrix (19 files), the report (reports/demo), then down
#   make bench   benchmarks (cluster cold start, Deployment 0 -> Ready, twin-up, each component
#                0 -> Ready), then the full matrix with its summary (wall time, onsets, harness cost)
#   make docker-up / docker-down
#                a Docker engine for kind: the one that answers, else our own dockerd
#                (hack/docker-engine.sh; source $(DOCKER_ENV) for its DOCKER_HOST)

SHELL := /bin/bash
GO ?= go
# Every Go build and test here is static, as the images' binaries must be (no package needs
# cgo): one build configuration, so the twin image's binary, bin/ and the tests share the Go
# build cache instead of compiling the same packages twice.
export CGO_ENABLED := 0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# A sub-make on a recipe line that runs commands of its own too (a trap, the engine test, the
# outage suite). GNU make runs every line that names $(MAKE) literally even under -n, so that
# the sub-make can print its commands; such a line would run its own commands as well (a
# `make -n test` ran the set-up, the engine test and the outage suite). Named through this
# variable, the line is only printed. A line that is only a sub-make keeps $(MAKE).
SUBMAKE = $(MAKE) --no-print-directory

# Kubernetes v1.X.Y goes with client-go v0.X.Y: derive the release from go.mod.
CLIENT_GO_VERSION := $(shell sed -n 's/^[[:space:]]*k8s.io\/client-go v\(0\.[0-9.]*\).*/\1/p' go.mod)
KUBE_VERSION := v1.$(patsubst 0.%,%,$(CLIENT_GO_VERSION))
CACHE_HOME := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)
KUBE_BIN_DIR ?= $(or $(THREESCALE_KUBE_BIN_DIR),$(CACHE_HOME)/threescale-chaos/kube/$(KUBE_VERSION))
export THREESCALE_KUBE_BIN_DIR := $(KUBE_BIN_DIR)
KUBECTL := $(KUBE_BIN_DIR)/kubectl

# Debian packages: the twin's datastores, etcd for the control plane, util-linux for the
# node agent's mount namespaces, chromium for the report's browser test (pkg/report).
DEB_PACKAGES := etcd-server redis-server mariadb-server memcached sphinxsearch postgresql util-linux ca-certificates curl chromium
# What hack/docker-engine.sh runs where no container engine does (docker.io: dockerd, runc,
# containerd, iptables). The unit run installs it for hack/enginetest (a few seconds); the
# rest of kind's set-up (debootstrap for the node image's rootfs) only `make kind-deps` does.
ENGINE_DEB_PACKAGES := docker.io
KIND_DEB_PACKAGES := $(ENGINE_DEB_PACKAGES) debootstrap
DOCKER_ENV := $(CACHE_HOME)/threescale-chaos/docker/docker.env

TEST_TIMEOUT ?= 30m
DEMO_DIR ?= $(CURDIR)/.twin/demo
TWIN_DIR ?= $(CURDIR)/.twin

.PHONY: test-beside e2e-suite e2e-cli twin2-kind-up kind-images kind-rootfs kind-node-binaries deps deb-packages engine-deps kind-deps docker-up docker-down kube-binaries kind-node-image twin-image twin-kind-up matrix-kind kind-test build vet test unit e2e chaos bench matrix demo docs kind-up install-3scale chaos-kind kind-down cluster-up cluster-down twin-up twin-down kubectl-path clean diff

deps: deb-packages kube-binaries
	$(GO) mod download

# install-debs: apt-get install those of the packages $(1) that are missing.
define install-debs
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		$(SUDO) apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	else echo "Debian packages present: $(1)"; fi
endef

deb-packages:
	$(call install-debs,$(DEB_PACKAGES))

engine-deps:
	$(call install-debs,$(ENGINE_DEB_PACKAGES))

kind-deps:
	$(call install-debs,$(KIND_DEB_PACKAGES))

# Our dockerd runs as root (hack/docker-engine.sh says why it differs from a stock one).
DOCKER_ENGINE = $(SUDO) env XDG_CACHE_HOME=$(CACHE_HOME) PATH="$$PATH" DOCKER_HOST="$$DOCKER_HOST" bash hack/docker-engine.sh
docker-up: engine-deps
	$(DOCKER_ENGINE) up

docker-down:
	$(DOCKER_ENGINE) down

# KUBE_BINARIES: which to build (empty: the twin's four, hack/build-kube.sh's default).
KUBE_BINARIES ?=
NODE_KUBE_BINARIES := kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kubeadm kube-proxy
kube-binaries:
	KUBE_BINARIES="$(KUBE_BINARIES)" KUBE_VERSION=$(KUBE_VERSION) KUBE_BIN_DIR=$(KUBE_BIN_DIR) bash hack/build-kube.sh

# --- kind -----------------------------------------------------------------------------
# kind's node image: kind-config.yaml's kindest/node, pulled from a registry, unless
# KIND_OFFLINE=1: then the one hack/kind-node-image.sh builds here from Debian's mirror and
# the Go module proxy (make kind-node-image; cached, rebuilt only when its inputs change).
KIND_VERSION := $(shell sed -n 's/^[[:space:]]*sigs.k8s.io\/kind \(v[0-9.]*\).*/\1/p' go.mod)
KIND_NODE_IMAGE ?= threescale-chaos/kind-node:$(KUBE_VERSION)
KIND_OFFLINE ?=
KIND_KUBECONFIG ?= $(CURDIR)/.kind/kubeconfig
# Every kind recipe talks to the engine docker-up found or started, and finds the kind that
# e2e-framework installs with `go install` when none is on PATH.
WITH_ENGINE = eval "$$($(DOCKER_ENGINE) up)"; \
	export PATH="$$($(GO) env GOPATH)/bin:$$PATH";

kind-node-image: kind-deps engine-deps
	@$(WITH_ENGINE) KUBE_VERSION=$(KUBE_VERSION) KUBE_BIN_DIR=$(KUBE_BIN_DIR) KIND_VERSION=$(KIND_VERSION) \
		KIND_NODE_IMAGE=$(KIND_NODE_IMAGE) bash hack/kind-node-image.sh

# The node image's own binaries (containerd, crictl, CoreDNS, etcd, local-path-provisioner,
# pause), without the engine and without the Kubernetes binaries: make test builds them beside
# `make kube-binaries KUBE_BINARIES="$(NODE_KUBE_BINARIES)"`.
kind-node-binaries: kind-deps
	@COMPONENTS_ONLY=1 KUBE_VERSION=$(KUBE_VERSION) KUBE_BIN_DIR=$(KUBE_BIN_DIR) KIND_VERSION=$(KIND_VERSION) bash hack/kind-node-image.sh

# The twin as one container image (hack/twin-image.sh; cached, only the binary's layer is
# rebuilt after a Go change), tagged $(TWIN_IMAGE_REPO):latest and with the digest tag the
# script prints.
TWIN_IMAGE_REPO ?= threescale-chaos/twin
twin-image: kind-deps engine-deps
	@$(WITH_ENGINE) TWIN_IMAGE_REPO=$(TWIN_IMAGE_REPO) bash hack/twin-image.sh

kind-up: build engine-deps $(if $(KIND_OFFLINE),kind-node-image)
	@$(WITH_ENGINE) bin/threescale-kind up --kubeconfig $(KIND_KUBECONFIG) $(if $(KIND_OFFLINE),--image $(KIND_NODE_IMAGE))

kind-down: build
	@$(WITH_ENGINE) bin/threescale-kind down --kubeconfig $(KIND_KUBECONFIG)

# 3scale 2.16 from fixtures/kind (its images come from a registry: not for offline machines).
install-3scale: build
	bin/threescale-kind install --kubeconfig $(KIND_KUBECONFIG)

chaos-kind: build
	bin/threescale-chaos run --target fixtures/kind/target.yaml --kubeconfig $(KIND_KUBECONFIG) \
		$(if $(COMPONENT),--component $(COMPONENT)) --report-dir $(CURDIR)/reports/kind

# The 3scale twin on kind, as on any real kubelet (pkg/twin/deploy Platform Kubelet): the
# cluster from the offline node image, the twin's image (hack/twin-image.sh) loaded into the
# node, every component a container reached through its Service, the endpoints through the
# NodePorts kind-config.yaml publishes, the stores through port-forwards. Then the target file
# as the README has a user write one (hack/kind-target.sh): fixtures/rbac applied, a kubeconfig
# for the harness's ServiceAccount, `threescale-chaos discover` run as it with an override of
# two fields. Writes $(KIND_TWIN_TARGET); the credentials stay in $(KIND_TWIN_STATE).
# apicast-production refreshes its configuration every KIND_TWIN_CONFIG_CACHE instead of the
# operator's 300s: system-app and system-mysql hold their outage through one refresh, and the
# wrong-expectation test waits for one, so this keeps make test inside CI's budget. The harness
# reads the period from the Deployment, as on a real install; KIND_TWIN_CONFIG_CACHE=300s runs
# the operator's.
KIND_TWIN_CONFIG_CACHE ?= 60s
KIND_TARGET_DIR ?= $(CURDIR)/.kind/target
KIND_TWIN_TARGET ?= $(KIND_TARGET_DIR)/target.yaml
KIND_TWIN_STATE ?= $(CURDIR)/.kind/twin
# kind-twin: the twin's image loaded into the kind cluster (a no-op when it is there), the
# twin deployed in namespace $(1) with its credentials in $(2), its NodePorts reached at the
# address the shell command $(3) prints (deploy's flags for them: $(4)), and its target file
# written in $(5) by hack/kind-target.sh.
define kind-twin
	@$(WITH_ENGINE) set -e; image=$$(TWIN_IMAGE_REPO=$(TWIN_IMAGE_REPO) bash hack/twin-image.sh | tail -1); \
	name=$$(sed -n 's/^name: *//p' kind-config.yaml); addr=$(3); \
	[ -n "$$addr" ] || { echo "$@: no address for the NodePorts of $$name-control-plane"; exit 1; }; \
	kind load docker-image --name $$name $$image; \
	mkdir -p $(5); \
	bin/threescale-twin deploy --kubeconfig $(KIND_KUBECONFIG) --platform kubelet --image $$image --namespace $(1) $(4) \
		--production-config-cache $(KIND_TWIN_CONFIG_CACHE) --data-dir $(2) --target $(5)/deploy-target.yaml; \
	THREESCALE_CHAOS_NODE_ADDRESS=$$addr KUBECTL=$(KUBECTL) bash hack/kind-target.sh $(KIND_KUBECONFIG) $(5) $(1)
endef
twin-kind-up: build kind-deps engine-deps
	@$(MAKE) --no-print-directory kind-up KIND_OFFLINE=1
	$(call kind-twin,3scale,$(KIND_TWIN_STATE),127.0.0.1,,$(KIND_TARGET_DIR))

# A second twin in the cluster twin-kind-up made (make test runs the CLI's end-to-end tests on
# it beside the matrix): namespace KIND_CLI_NAMESPACE, its six NodePorts from
# KIND_CLI_NODE_PORT_BASE, reached at the node container's address on the kind network
# (kind-config.yaml publishes only the first twin's on 127.0.0.1), its node data under its
# namespace, its RBAC moved to that namespace. Writes $(KIND_CLI_TARGET).
KIND_CLI_NAMESPACE ?= 3scale-cli
KIND_CLI_NODE_PORT_BASE ?= 30180
KIND_CLI_TARGET_DIR ?= $(CURDIR)/.kind/cli-target
KIND_CLI_TARGET ?= $(KIND_CLI_TARGET_DIR)/target.yaml
KIND_CLI_STATE ?= $(CURDIR)/.kind/cli-twin
twin2-kind-up: build kind-deps engine-deps
	$(call kind-twin,$(KIND_CLI_NAMESPACE),$(KIND_CLI_STATE),$$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' $$name-control-plane),--node-port-base $(KIND_CLI_NODE_PORT_BASE) --node-address $$addr,$(KIND_CLI_TARGET_DIR))

# The whole outage matrix through the CLI against the twin on kind (COMPONENT= runs one);
# the cluster is deleted whatever happens. Reports in $(KIND_MATRIX_DIR).
KIND_MATRIX_DIR ?= $(CURDIR)/reports/matrix-kind
matrix-kind: build
	@set -e; trap '$(SUBMAKE) kind-down; rm -rf $(KIND_TWIN_STATE) $(KIND_TARGET_DIR)' EXIT; \
	$(SUBMAKE) twin-kind-up; mkdir -p $(KIND_MATRIX_DIR); \
	rc=0; bin/threescale-chaos run --target $(KIND_TWIN_TARGET) --reload-production-gateway \
		$(if $(COMPONENT),--component $(COMPONENT)) --report-dir $(KIND_MATRIX_DIR) || rc=$$?; \
	bin/threescale-chaos summary $(KIND_MATRIX_DIR) | tee $(KIND_MATRIX_DIR)/summary.txt; \
	echo "report: $(KIND_MATRIX_DIR)/report.html"; exit $$rc

# The kind path end to end on this machine with no registry: the offline node image, a
# cluster from kind-config.yaml, and what the harness needs of it (cmd/threescale-kind
# TestKindCluster: node Ready, a locally built image, NodePort on 127.0.0.1, port-forward,
# the default StorageClass, SIGTERM on scale to 0), then the cluster deleted.
kind-test: kind-node-image twin-image
	@$(WITH_ENGINE) THREESCALE_CHAOS_KIND_IMAGE=$(KIND_NODE_IMAGE) THREESCALE_CHAOS_TWIN_IMAGE=$(TWIN_IMAGE_REPO):latest \
		$(GO) test -count=1 -timeout 20m -v -run 'TestKindCluster|TestTwinImage' ./cmd/threescale-kind ./hack/twinimage

build:
	$(GO) build -o bin/ ./cmd/...

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# make test: the set-up (one apt run at a time; then every compile in one parallel step: the
# seven kube binaries, the node image's other binaries, bin/, and beside them the images' root
# file systems, downloaded and unpacked; a cold run of these is CPU-bound on two cores, and
# side by side each fills the core the others leave idle while they download, unpack or link);
# the engine test alone, since it needs a machine where no dockerd runs; then the kind node
# image's assembly and the twin's image (-j2 -O: the twin image's binary is a link of packages
# `build` compiled); then the twin on kind and the outage suite against it, with a second job
# beside them (test-beside, in a session of its own so that the end of make test stops all of
# it): the unit tests (without the engine test) at nice 19, then the CLI's end-to-end tests
# against a second twin in the same cluster. The matrix leaves more than half of the two cores
# idle (sampling and outages are waits): the unit tests fill it at nice 19, taking only what
# kind's containers (cgroup /docker) and the harness leave (at nice 0 beside the matrix they made
# kind's port-forwards and recoveries overrun their budgets, tried 2026-12-06); the CLI's tests
# fill the matrix's last minutes, which the unit tests left idle (26-60 %, cold run of c08c1d9),
# instead of running after it. The second twin starts only once the unit tests are done: with
# the unit tests, two twins and the matrix at once, 2 cores were overloaded (2026-12-06). Output
# in UNIT_LOG and CLI_E2E_LOG, shown at the end. Fails if any part fails. The cluster is deleted
# whatever happens, and the Docker engine stopped if this run started it.
UNIT_LOG ?= $(CURDIR)/reports/unit.log
CLI_E2E_LOG ?= $(CURDIR)/reports/cli-e2e.log
BESIDE_STATUS := $(CURDIR)/reports/beside.status
KIND_TWIN_READY := $(CURDIR)/.kind/twin-ready
test:
	@$(MAKE) --no-print-directory deb-packages engine-deps kind-deps
	@$(MAKE) --no-print-directory -j4 -O kube-binaries kind-node-binaries build kind-rootfs KUBE_BINARIES="$(NODE_KUBE_BINARIES)"
	@$(MAKE) --no-print-directory deps
	@set -e; engine_was_up=$$($(ENGINE_STATUS) >/dev/null 2>&1 && echo yes || true); beside=; \
	trap 'st=$$?; [ -z "$$beside" ] || kill -- -$$beside 2>/dev/null || true; $(E2E_CLEANUP)' EXIT; \
	THREESCALE_CHAOS_REQUIRE_ALL=1 $(GO) test -count=1 ./hack/enginetest; \
	$(SUBMAKE) -j2 -O kind-node-image twin-image; \
	mkdir -p $(dir $(UNIT_LOG)) $(dir $(CLI_E2E_LOG)) $(dir $(BESIDE_STATUS)); rm -f $(KIND_TWIN_READY) $(BESIDE_STATUS); \
	echo "beside the matrix: the unit tests at nice 19 (output in $(UNIT_LOG)), then the CLI's end-to-end tests on a second twin (output in $(CLI_E2E_LOG))"; \
	setsid $(SUBMAKE) test-beside >$(BESIDE_STATUS) 2>&1 </dev/null & beside=$$!; \
	e2e=0; if $(SUBMAKE) twin-kind-up; then echo up >$(KIND_TWIN_READY); $(SUBMAKE) e2e-suite || e2e=$$?; \
	else e2e=$$?; echo down >$(KIND_TWIN_READY); fi; \
	rc=0; wait $$beside || rc=$$?; beside=; \
	echo "--- unit tests, from $(UNIT_LOG):"; cat $(UNIT_LOG) 2>/dev/null || true; \
	echo "--- the CLI's end-to-end tests on a second twin, from $(CLI_E2E_LOG):"; cat $(CLI_E2E_LOG) 2>/dev/null || true; \
	echo "--- beside the matrix:"; cat $(BESIDE_STATUS); \
	[ $$e2e -eq 0 ] || { echo "make test: the matrix on kind failed (exit $$e2e)"; exit $$e2e; }; \
	[ $$rc -eq 0 ] || { echo "make test: the unit tests or the CLI's end-to-end tests failed (exit $$rc, see above)"; exit $$rc; }

# make test's job beside the matrix: the unit tests at nice 19; then, once make test has said
# in KIND_TWIN_READY whether the cluster and its first twin came up (when they did not, the CLI's
# tests are not run and this job fails), a second twin in the same cluster (twin2-kind-up), the
# CLI's end-to-end tests against it, and its namespace deleted so that the matrix's last minutes
# have the node to themselves. One line per part on stdout; exits non-zero if either failed.
test-beside:
	@rc=0; nice -n 19 $(SUBMAKE) unit UNIT_WITHOUT_ENGINE=1 >$(UNIT_LOG) 2>&1 || rc=$$?; \
	echo "unit tests: exit $$rc ($$(date -u +%H:%M:%S))"; \
	until [ -s $(KIND_TWIN_READY) ]; do sleep 1; done; \
	if [ "$$(cat $(KIND_TWIN_READY))" != up ]; then \
		echo "the CLI's end-to-end tests: not run, the cluster and its first twin did not come up" | tee $(CLI_E2E_LOG); exit 1; fi; \
	cli=0; { $(SUBMAKE) twin2-kind-up && $(SUBMAKE) e2e-cli E2E_CLI_TARGET=$(KIND_CLI_TARGET); } >$(CLI_E2E_LOG) 2>&1 || cli=$$?; \
	$(KUBECTL) --kubeconfig $(KIND_KUBECONFIG) delete namespace $(KIND_CLI_NAMESPACE) --wait=false >>$(CLI_E2E_LOG) 2>&1 || true; \
	echo "the CLI's end-to-end tests on a second twin: exit $$cli ($$(date -u +%H:%M:%S))"; \
	[ $$rc -eq 0 ] && [ $$cli -eq 0 ]

kind-images: kind-node-image twin-image

# The two images' Debian root file systems (debootstrap, cached): downloads and unpacking,
# little CPU, so make test builds them beside the kube binaries' compile.
kind-rootfs: kind-deps
	@ROOTFS_ONLY=1 bash hack/twin-image.sh
	@ROOTFS_ONLY=1 KUBE_VERSION=$(KUBE_VERSION) KUBE_BIN_DIR=$(KUBE_BIN_DIR) KIND_VERSION=$(KIND_VERSION) bash hack/kind-node-image.sh

# THREESCALE_CHAOS_REQUIRE_ALL=1: a test that would skip for want of redis-server, PostgreSQL,
# the kube binaries or root fails instead (internal/testsupport.Require); `make deps` installs them.
# UNIT_WITHOUT_ENGINE=1 leaves out hack/enginetest (make test runs it first, alone).
UNIT_WITHOUT_ENGINE ?=
# vet runs after the tests, not before: its cold run is mostly the compile the tests do anyway,
# so after them it reads their cache (before them it held the tests back about 4 minutes cold).
unit: deps engine-deps
	THREESCALE_CHAOS_REQUIRE_ALL=1 $(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(if $(UNIT_WITHOUT_ENGINE),$$($(GO) list ./... | grep -v '/hack/enginetest$$'),./...)
	@$(MAKE) --no-print-directory vet

# The outage suite (one Ginkgo container per scenario file) and the CLI's end-to-end tests,
# one package at a time (make test runs the CLI's beside the suite, on a second twin), against
# the twin on a kind cluster built offline (twin-kind-up: the node image and the twin's image
# built here, no registry), which is deleted whatever happens, with the Docker engine if this
# run started it. The harness reaches it as it reaches 3scale on kind: the endpoints through
# kind-config.yaml's NodePorts, the stores through port-forwards.
# E2E_COMPONENTS lists the scenarios to run by name ("all", the default, is the 15 files of one
# component each; the files of several components, label multi, are not in make test yet: they
# add about 8 minutes to a run already near CI's budget, and have run on the process node only:
# E2E_COMPONENTS="backend system-app-sidekiq" runs them; nor are the variants, label variant,
# which configure the run's product differently and have run on the process node only:
# E2E_COMPONENTS="backend-listener-caching-resilient backend-listener-caching-allow");
# COMPONENT=backend-worker runs one (a file of several components by its name: COMPONENT=backend).
# REPORT_DIR gets the journal, report and JUnit. When the run fails, its last lines are the
# suite's cells that did not pass, with their reasons (summary's NOT PASSING section).
E2E_COMPONENTS ?= all
COMPONENT ?=
REPORT_DIR ?= $(CURDIR)/reports/e2e
empty :=
space := $(empty) $(empty)
LABEL_FILTER := $(if $(COMPONENT),scenario:$(COMPONENT),$(if $(filter all,$(E2E_COMPONENTS)),disruptive && !multi && !variant,$(subst $(space), || ,$(patsubst %,scenario:%,$(E2E_COMPONENTS)))))
ENGINE_STATUS = $(DOCKER_ENGINE) status
# What e2e and test do at their end, whatever happened (st: the exit status so far): the
# cluster deleted with both twins' state, the engine stopped if this run started it, and on a
# failure the twin's pod logs kept in REPORT_DIR/twin-logs (hack/twin-logs.sh, which prints the
# twin's slow requests) and the suite's cells that did not pass.
E2E_CLEANUP = [ $$st -eq 0 ] || KUBECTL=$(KUBECTL) bash hack/twin-logs.sh $(KIND_KUBECONFIG) $(REPORT_DIR)/twin-logs 3scale $(KIND_CLI_NAMESPACE); \
	$(SUBMAKE) kind-down; rm -rf $(KIND_TWIN_STATE) $(KIND_TARGET_DIR) $(KIND_CLI_STATE) $(KIND_CLI_TARGET_DIR) $(KIND_TWIN_READY); \
	[ -n "$$engine_was_up" ] || $(SUBMAKE) docker-down; \
	[ $$st -eq 0 ] || [ ! -f $(REPORT_DIR)/journal.json ] || bin/threescale-chaos summary $(REPORT_DIR) | sed -n "/^NOT PASSING/,\$$p"
e2e: deps build kind-deps engine-deps
	@set -e; engine_was_up=$$($(ENGINE_STATUS) >/dev/null 2>&1 && echo yes || true); \
	trap 'st=$$?; $(E2E_CLEANUP)' EXIT; \
	$(SUBMAKE) twin-kind-up; \
	$(SUBMAKE) e2e-suite; \
	$(if $(COMPONENT),true,$(SUBMAKE) e2e-cli)

# The outage suite against the twin twin-kind-up put on kind.
e2e-suite: build
	@mkdir -p $(REPORT_DIR); rm -f $(REPORT_DIR)/journal.json
	THREESCALE_CHAOS_TARGET=$(KIND_TWIN_TARGET) THREESCALE_CHAOS_REPORT_DIR=$(REPORT_DIR) $(GO) test -count=1 -timeout 60m -v ./suites/outage \
		-ginkgo.label-filter='$(LABEL_FILTER)' -ginkgo.junit-report=$(REPORT_DIR)/junit.xml -ginkgo.v -reload-production-gateway

# The CLI's end-to-end tests (a wrong expectation, the operator reverting a scale-down, an
# unhealthy steady state, SIGINT, SIGKILL then restore): they scale components of the 3scale
# that E2E_CLI_TARGET names to zero, run bin/threescale-chaos and check what it says and leaves.
E2E_CLI_TARGET ?= $(KIND_TWIN_TARGET)
e2e-cli: build
	THREESCALE_CHAOS_TARGET=$(E2E_CLI_TARGET) $(GO) test -count=1 -timeout 30m -v \
		-run 'Test(WrongExpectation|OperatorRevert|UnhealthySteadyState|SIGINT|RestoreAfterSIGKILL)' ./cmd/threescale-chaos

# The outage suite against whatever cluster the target file names (kind, OpenShift, a twin
# already up): TARGET=path/to/target.yaml, COMPONENT= to pick one.
TARGET ?= $(TWIN_DIR)/target.yaml
chaos: build
	bin/threescale-chaos run --target $(TARGET) $(if $(COMPONENT),--component $(COMPONENT)) --report-dir $(REPORT_DIR)

# Go benchmarks (-p 1: the twin benchmarks use the twin's fixed ports, one package at a
# time), then the full matrix on the twin, whose summary gives its wall time, the onset of
# each lost capability and the harness's CPU and memory while probing.
bench: deps
	$(GO) test -p 1 -run '^$$' -bench . -benchtime 3x -count 3 ./pkg/twin/cluster/ ./pkg/twin/deploy/ ./pkg/twin/conformance/
	$(MAKE) --no-print-directory matrix MATRIX_DIR=$(CURDIR)/reports/bench

# The README's scenario matrix and claims table, regenerated from scenarios/*.yaml (a unit test fails when
# they differ).
docs:
	$(GO) test -count=1 -run 'TestREADMEScenarioMatrix|TestREADMEClaims' ./pkg/scenario -update-readme

kubectl-path:
	@echo $(KUBECTL)

cluster-up: deps build
	bin/threescale-twin cluster up --dir $(DEMO_DIR)

cluster-down:
	@[ -d $(DEMO_DIR) ] && bin/threescale-twin cluster down --dir $(DEMO_DIR) || echo "no local cluster in $(DEMO_DIR)"

# The 3scale twin on a local cluster: writes $(TWIN_DIR)/kubeconfig and $(TWIN_DIR)/target.yaml.
twin-up: deps build
	bin/threescale-twin cluster up --dir $(TWIN_DIR)/cluster
	ln -sf cluster/kubeconfig $(TWIN_DIR)/kubeconfig
	bin/threescale-twin deploy --kubeconfig $(TWIN_DIR)/kubeconfig --data-dir $(TWIN_DIR)/data --target $(TWIN_DIR)/target.yaml $(TWIN_DEPLOY_FLAGS)

twin-down:
	@if [ -d $(TWIN_DIR)/cluster ]; then bin/threescale-twin cluster down --dir $(TWIN_DIR)/cluster; else echo "no twin in $(TWIN_DIR)"; fi

# The whole outage matrix through the CLI against a fresh twin: journal, HTML report and
# summary in $(MATRIX_DIR) (COMPONENT= runs one scenario); the twin is stopped whatever
# happens. The run's exit code is the matrix's verdict (0 PASS, 1 FAIL, 2 INVALID).
# RUN_FLAGS adds flags to the run, such as --reload-production-gateway (restart
# apicast-production after each promote instead of waiting up to its 300 s refresh: a
# caching variant promotes its chain, and its undo, before and after the scenario).
MATRIX_DIR ?= $(CURDIR)/reports/matrix
RUN_FLAGS ?=
matrix: deps build
	@set -e; trap '$(SUBMAKE) twin-down' EXIT; \
	$(SUBMAKE) twin-up; mkdir -p $(MATRIX_DIR); \
	rc=0; bin/threescale-chaos run --target $(TWIN_DIR)/target.yaml $(if $(COMPONENT),--component $(COMPONENT)) $(RUN_FLAGS) --report-dir $(MATRIX_DIR) || rc=$$?; \
	bin/threescale-chaos summary $(MATRIX_DIR) | tee $(MATRIX_DIR)/summary.txt; \
	echo "report: $(MATRIX_DIR)/report.html"; exit $$rc

# The demo: set-up, the twin, all 19 scenario files one after the other, the report. The twin's
# apicast-production refreshes its configuration every 60 s (the operator's is 300 s) and is
# restarted after each promote, so that the demo does not sit through 5-minute refreshes; the
# harness reads the period from the Deployment as it does on a real install.
demo:
	$(MAKE) --no-print-directory matrix MATRIX_DIR=$(CURDIR)/reports/demo \
		RUN_FLAGS=--reload-production-gateway TWIN_DEPLOY_FLAGS=--production-config-cache=60s

# What behaves differently in the last run than in the one before: the two newest journals
# of $(REPORT_DIR)/history (each run keeps its last 20 there; REPORT_DIR=reports/matrix for
# `make matrix`'s), or OLD= and NEW= (journal files or report directories). diff.html goes
# beside NEW's report. Fails when a verdict changed or on bad input (make says 2 for both;
# the command itself exits 1 and 2).
diff: build
	$(if $(OLD)$(NEW),bin/threescale-chaos diff $(OLD) $(NEW),bin/threescale-chaos diff --last $(REPORT_DIR)/history)

clean: cluster-down twin-down
	rm -rf bin .twin
