# vigil: a crash-safe container supervisor for containerd.
# `make help` lists the targets.

GO      ?= go
BIN     := bin/supervisor
PKGS    := ./...

.PHONY: help build cross test unit verify demo demo-stop bench bench-network bench-peers scale fuzz crashtest crashtest-broken crashtest-update clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build bin/supervisor (static, as the released binaries)
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/supervisor

cross: ## build static binaries for linux/amd64, arm64 and arm (v7) into bin/cross; print their sizes
	bash scripts/crossbuild.sh bin/cross

test: ## run all tests, integration included (installs deps, starts a private containerd)
	bash scripts/test.sh $(PKGS)

unit: ## run the tests that need no containerd (integration tests skip)
	$(GO) test -race -count=1 -timeout 5m $(PKGS)

verify: ## gofmt, go vet and a go mod tidy check
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) vet $(PKGS)
	@cp go.mod go.mod.verify && cp go.sum go.sum.verify; \
	$(GO) mod tidy; \
	if ! diff -q go.mod go.mod.verify >/dev/null || ! diff -q go.sum go.sum.verify >/dev/null; then \
		mv go.mod.verify go.mod; mv go.sum.verify go.sum; echo "go mod tidy changes go.mod or go.sum"; exit 1; \
	fi; rm -f go.mod.verify go.sum.verify

demo: ## start a private containerd, the supervisor daemon and a demo service, and show them
	bash scripts/demo.sh start

demo-stop: ## stop what `make demo` started (the demo service, the daemon, containerd)
	bash scripts/demo.sh stop

bench: ## run the benchmarks, without the race detector, against a private containerd (figures: docs/BENCHMARKS.md)
	VIGIL_TEST_RACE=0 bash scripts/test.sh -run '^$$' -bench . -benchtime 2s -count 3 ./journal/ ./c8dbridge/

bench-network: ## create+start+exit+delete through the CLIs: vigil, docker and podman on their default bridges, vigil on none (figures: docs/BENCHMARKS.md)
	bash scripts/containerd.sh status >/dev/null 2>&1 || bash scripts/containerd.sh start
	bash scripts/bench-network.sh

bench-peers: ## /bin/true through the CLIs, networking off: vigil (run --rm; run, then rm; from an image), ctr on the same containerd, docker and podman when installed (figures: docs/BENCHMARKS.md)
	bash scripts/containerd.sh status >/dev/null 2>&1 || bash scripts/containerd.sh start
	bash scripts/bench-peers.sh

scale: ## run SCALE (1000) detached busybox containers under one daemon: RSS, idle CPU, ps latency, recovery after kill -9, journal size, events and logs followed (not in CI)
	VIGIL_TEST_RACE=0 VIGIL_SCALE=$(or $(SCALE),1000) bash scripts/test.sh -count=1 -timeout 60m -run '^TestScale$$' -v ./cmd/supervisor/

fuzz: ## fuzz the pure lifecycle and the journal decoder for 30 s each
	$(GO) test -run '^$$' -fuzz FuzzLifecycle -fuzztime 30s ./actors/lifecycle/
	$(GO) test -run '^$$' -fuzz FuzzNetworkNeverLeaks -fuzztime 30s ./actors/lifecycle/
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 30s ./journal/

# The crash harness (docs/RELIABILITY.md). SEED replays a run (0: a new
# seed, printed); CYCLES and BROKEN_CYCLES set the runs' lengths.
SEED          ?= 0
CYCLES        ?= 500
BROKEN_CYCLES ?= 20

crashtest: ## kill -9 the daemon at random and at failpoints; check the invariants (SEED=, CYCLES=)
	VIGIL_TEST_RACE=0 bash scripts/test.sh -tags crashtest -v -timeout 180m -run '^TestCrash$$' ./crashtest/ -args -seed=$(SEED) -cycles=$(CYCLES)

crashtest-update: ## kill -9 the daemon at every failpoint of an update to another image; one of the two images runs after recovery
	VIGIL_TEST_RACE=0 bash scripts/test.sh -tags crashtest -v -timeout 30m -run '^TestCrashDuringUpdate$$' ./crashtest/

crashtest-broken: ## the harness on a build that acts without journaling; passes only if it reports violations
	VIGIL_TEST_RACE=0 bash scripts/test.sh -tags crashtest -v -timeout 60m -run '^TestCrash$$' ./crashtest/ -args -seed=$(SEED) -cycles=$(BROKEN_CYCLES) -broken

clean: ## remove build output
	rm -rf bin
