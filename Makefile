# flow build — in-cluster image builds for FleetFlow.
#
#   make demo    a local cluster, registry and operator, then a real `flow build --push` of examples/
#   make test    every test tier: unit, integration (envtest) and end-to-end (local node; root on Linux)
#
# Tools (controller-gen, golangci-lint, helm, Kubernetes binaries) are built from the Go module
# proxy on first use and cached by version outside the clone (see hack/lib.sh).

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
GO ?= go
BIN := bin

CONTROLLER_GEN = $(shell hack/tool.sh controller-gen)
GOLANGCI_LINT = $(shell hack/tool.sh golangci-lint)

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ Development

.PHONY: generate
generate: ## Regenerate deepcopy code.
	$(CONTROLLER_GEN) object paths=./api/...

.PHONY: manifests
manifests: ## Regenerate the CRD and RBAC manifests (config/ and the Helm chart).
	$(CONTROLLER_GEN) crd rbac:roleName=flow-build-manager paths=./api/... paths=./controllers/... \
		output:crd:dir=config/crd/bases output:rbac:dir=config/rbac
	hack/sync-chart.sh

.PHONY: verify-generated
verify-generated: generate manifests ## Fail when generated files are stale.
	@git diff --exit-code -- api config charts || { echo "generated files are stale: run 'make generate manifests' and commit the result" >&2; exit 1; }

.PHONY: verify-tidy
verify-tidy: ## Fail when go.mod and go.sum are not what `go mod tidy` makes of them.
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run 'go mod tidy' and commit the result" >&2; exit 1; }

.PHONY: shellcheck
shellcheck: ## shellcheck the scripts of hack/ and .ci/run (installs shellcheck with apt-get when missing).
	hack/shellcheck.sh

.PHONY: fmt
fmt: ## gofmt the tree.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## go vet.
	$(GO) vet ./...

.PHONY: lint
lint: ## golangci-lint (built from the module proxy) and gofmt.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out" >&2; exit 1; fi
	$(GOLANGCI_LINT) run --allow-serial-runners ./...

.PHONY: lint-chart
lint-chart: ## helm lint and render of both install modes (all namespaces; watchNamespaces), checking their RBAC.
	hack/check-chart.sh

.PHONY: verify
verify: verify-generated verify-tidy vet lint lint-chart shellcheck ## Everything CI checks besides the tests.

.PHONY: build
build: ## Build bin/flow and bin/manager.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/flow ./cmd/flow
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/manager ./cmd/manager

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/fleetflow/flow-build/internal/version.Version=$(VERSION)

##@ Tests

.PHONY: test
test: test-unit test-integration test-e2e ## All three tiers.

.PHONY: test-unit
test-unit: ## Unit tests: no cluster, no registry daemon.
	$(GO) test -race ./... -count=1

.PHONY: test-integration
test-integration: ## Controller and CLI against a real kube-apiserver and etcd (envtest).
	KUBEBUILDER_ASSETS=$$(hack/kube-binaries.sh envtest) \
		$(GO) test -race ./controllers/... ./internal/cli/... -count=1 -run 'Integration'

.PHONY: test-e2e
test-e2e: ## End to end on a local node with real Kaniko pods and a real registry (root, Linux).
	hack/e2e.sh

.PHONY: bench
bench: ## Benchmarks: bundle packing vs tar|gzip, an unchanged context and one change uploaded, hostile extraction, CLI memory for a 1 GiB context, 1,000 builds on envtest, end-to-end overhead on the local node.
	$(GO) test ./internal/bundle/ -run '^$$' -bench Pack -benchtime 3x
	$(GO) test ./internal/bundle/ -run '^$$' -bench ExtractHostile -benchtime 1x
	hack/bench-bundle.sh
	hack/bench-cli-memory.sh 1024
	KUBEBUILDER_ASSETS=$$(hack/kube-binaries.sh envtest) $(GO) test ./controllers/ -run '^$$' -bench Scale -benchtime 1x
	hack/bench-e2e.sh

##@ Local cluster

.PHONY: demo
demo: ## Local cluster + registry + operator, then `flow build --push --tag demo prod` on examples/.
	hack/demo.sh

.PHONY: demo-down
demo-down: ## Remove everything `make demo` started.
	hack/cluster/cluster.sh down
