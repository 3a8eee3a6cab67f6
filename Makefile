# Pulse: make run starts everything on embedded defaults; make test runs the
# whole suite against real engines. Both start PostgreSQL and ClickHouse
# through scripts/ (idempotent; `make engines-stop` stops them).

GO       ?= go
# Builds and tests use a Go whose standard library has no known vulnerability
# that Pulse calls (go1.26.8, the machines' own, has several in net/http and
# crypto/x509; scripts/vulncheck.sh finds them). The go command fetches this
# toolchain from the module proxy once (~76 MB). Override with GOTOOLCHAIN=local.
export GOTOOLCHAIN ?= go1.27.3
BIN      := bin/pulse
PKGS     := ./...
export PULSE_DATA_DIR ?= $(CURDIR)/.data
# The ClickHouse dialect test also runs every statement on a current
# ClickHouse (chDB, in-process) when `make chdb` has installed it.
# CHDB_VERSION pins the npm package, so CI and developers check the same dialect.
CHDB_VERSION ?= 26.5.3
CHDB_LIB  := $(PULSE_DATA_DIR)/chdb/node_modules/@chdb/lib-linux-x64-gnu/libchdb.so
export CHDB_LIB_PATH ?= $(wildcard $(CHDB_LIB))

.PHONY: toolchain chdb graphql-ws run build test test-short bench chaos verify generate generated docs fmt vet staticcheck vulncheck engines engines-stop lint clean diagram

run: build engines ## start the engines and `pulse dev` (API on :8080, demo data)
	$(BIN) dev

toolchain: ## fetch (once) and print the Go toolchain the targets use
	$(GO) version

build:
	$(GO) build -o $(BIN) ./cmd/pulse

engines: ## start PostgreSQL and ClickHouse (idempotent)
	bash scripts/engines.sh start

chdb: ## install chDB (ClickHouse 26, ~530 MB, from npm) for the dialect test
	npm install --no-save --no-audit --no-fund --prefix $(PULSE_DATA_DIR)/chdb @chdb/lib-linux-x64-gnu@$(CHDB_VERSION)

graphql-ws: ## install the npm graphql-ws client (test-only) for the WebSocket test in api/
	npm install --no-save --no-audit --no-fund --prefix api/testdata/graphql-ws

engines-stop:
	bash scripts/engines.sh stop

test: engines ## the full suite, race detector on, real engines
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

test-short:
	$(GO) test -count=1 -short $(PKGS)

# make bench: every benchmark measures its baseline in the same run (the
# machine may be shared: compare ratios, not absolute figures); the CPU
# profile of the replays' step (every run, with its history's generation
# and bare insert) goes to docs/bench/; the last step prints one table
# (figure, baseline, ratio, goal), which docs/bench.md keeps.
BENCH_DIR ?= docs/bench
# How long BenchmarkDevMemory lets pulse dev fetch (the goal is about an hour).
BENCH_DEV_DURATION ?= 60m
# How many times each replay runs: the same work's CPU varies by a quarter
# from run to run here, so the table gives each replay figure as the median
# of the runs, with their range.
BENCH_REPLAY_RUNS ?= 5
bench: SHELL := /bin/bash
bench: .SHELLFLAGS := -o pipefail -c
bench: engines ## benchmarks, each next to its same-run baseline, ending with one table
	@mkdir -p $(BENCH_DIR)
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 30m ./api ./processors/normalizer ./sinks/chsink ./producers/scheduler/... | tee $(BENCH_DIR)/parts.txt
	$(GO) test -run '^$$' -bench 'ReplayParts$$' -benchmem -count=1 -timeout 10m ./bench | tee -a $(BENCH_DIR)/parts.txt
	$(GO) test -run '^$$' -bench '^BenchmarkReplay(Established)?$$' -benchtime 1x -count=$(BENCH_REPLAY_RUNS) -timeout 60m -cpuprofile $(BENCH_DIR)/replay.cpu.pprof -o $(BENCH_DIR)/bench.test ./bench | tee $(BENCH_DIR)/replay.txt
	$(GO) test -run '^$$' -bench '^BenchmarkReplayNormalizer$$' -benchtime 1x -count=1 -timeout 30m ./bench | tee -a $(BENCH_DIR)/replay.txt
	$(GO) test -run '^$$' -bench 'APILoad' -benchtime 1x -count=1 -timeout 120m ./bench | tee $(BENCH_DIR)/api.txt
	$(GO) test -run '^$$' -bench 'RefreshToVisible' -benchtime 1x -count=1 -timeout 30m ./bench | tee $(BENCH_DIR)/refresh.txt
	$(GO) test -run '^$$' -bench 'DevMemory' -benchtime 1x -count=1 -timeout 150m ./bench -dev-duration $(BENCH_DEV_DURATION) | tee $(BENCH_DIR)/devmem.txt
	@rm -f $(BENCH_DIR)/bench.test
	@cat $(BENCH_DIR)/parts.txt $(BENCH_DIR)/replay.txt $(BENCH_DIR)/api.txt $(BENCH_DIR)/refresh.txt $(BENCH_DIR)/devmem.txt | $(GO) run ./bench/benchtable -q \
		-machine "$$(nproc) cores ($$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $$(free -g | awk '/Mem:/{print $$2}') GB, load average $$(cut -d' ' -f1-3 /proc/loadavg) at the end"

# make chaos: 20 runs of TestChaos (separate processes, kill -9, ClickHouse
# stopped 60 s, PostgreSQL restarted), on engines of its own on free ports.
chaos: build ## kill -9 under load: 20 runs, then the summary
	$(GO) test -count=1 -v -run TestChaos -timeout 180m ./chaos -chaos-runs 20 -chaos-duration 90s -chaos-clickhouse-outage 60s -chaos-kill-broker

generate:
	$(GO) tool gqlgen generate

docs: ## regenerate docs/topics.md's tables and docs/schemas from topics/ and the processor definitions
	$(GO) generate ./topics

verify: lint vulncheck generated ## the quality gates CI runs before the tests; each fails on a finding

lint: ## gofmt, go vet and staticcheck (pinned in go.mod as a tool)
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt: these files need formatting:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

staticcheck:
	$(GO) tool staticcheck $(PKGS)

vulncheck: ## govulncheck (pinned in go.mod as a tool): fails on a called vulnerable symbol
	GO=$(GO) bash scripts/vulncheck.sh

generated: generate docs ## regenerate the gqlgen code and the topic docs; fail if they differ from what is committed
	@out=$$(git status --porcelain -- api/graph docs); if [ -n "$$out" ]; then echo "generated code or docs are stale (run make generate docs and commit):"; echo "$$out"; git --no-pager diff --stat -- api/graph docs; exit 1; fi

diagram: ## regenerate docs/architecture.svg from docs/architecture.dot (needs Graphviz: apt-get install graphviz)
	@command -v dot >/dev/null || { echo "make diagram needs Graphviz's dot: apt-get install graphviz" >&2; exit 1; }
	dot -Tsvg docs/architecture.dot -o docs/architecture.svg

fmt:
	gofmt -w .

vet:
	$(GO) vet $(PKGS)

clean:
	rm -rf bin
