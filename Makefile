# kubeward build, test and benchmark targets. `make help` lists them.
GO        ?= go
BIN       ?= bin/kubeward
PKGS      ?= ./...
GOBIN     ?= $(shell $(GO) env GOPATH)/bin
# kustomize's exec/Go plugin loader imports the standard plugin package,
# which makes a cgo build export every symbol (+50 MB); kubeward never loads
# kustomize plugins, so it is compiled out.
TAGS      ?= kustomize_disable_go_plugin_support
# Packages whose concurrency is worth the race detector's cost in every run.
RACE_PKGS ?= ./internal/bus/... ./internal/alert/dispatch/... ./internal/detect/...

.PHONY: help build run test test-deps test-race bench bench-pipeline fuzz lint tools clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build bin/kubeward
	CGO_ENABLED=0 $(GO) build -trimpath -tags $(TAGS) -o $(BIN) ./cmd/kubeward

run: build ## run `kubeward serve` on the embedded default (SQLite + in-process bus, 127.0.0.1:8080)
	./$(BIN) serve

test-deps: ## install what the tests need (PostgreSQL and redis-server binaries; kube-apiserver + etcd built and cached)
	./scripts/test-deps.sh
	./scripts/envtest-assets.sh >/dev/null

test: test-deps ## run the whole test suite (unit, contract, integration, end to end)
	$(GO) vet -tags $(TAGS) $(PKGS)
	$(GO) test -tags $(TAGS) -count=1 -timeout 40m $(PKGS)
	$(GO) test -tags $(TAGS) -count=1 -race -timeout 20m $(RACE_PKGS)

bench: test-deps ## run the benchmarks recorded in the README
	$(GO) test -tags $(TAGS) -run '^$$' -bench . -benchmem -timeout 60m ./...

lint: tools ## golangci-lint, gosec, gitleaks
	$(GOBIN)/golangci-lint run ./...
	$(GOBIN)/gosec -quiet -exclude-generated ./...
	$(GOBIN)/gitleaks dir . --no-banner

tools: ## install the linters with go install
	$(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@latest
	$(GO) install github.com/securego/gosec/v2/cmd/gosec@latest
	$(GO) install github.com/zricethezav/gitleaks/v8@latest

clean:
	rm -rf bin

bench-pipeline: ## end-to-end CVE pipeline benchmark (records/s, peak RSS) for SQLite and Kafka+PostgreSQL
	./scripts/bench-pipeline.sh
