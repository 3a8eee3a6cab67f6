# Pulse: make run starts everything on embedded defaults; make test runs the
# whole suite against real engines. Both start PostgreSQL and ClickHouse
# through scripts/ (idempotent; `make engines-stop` stops them).

GO       ?= go
BIN      := bin/pulse
PKGS     := ./...
export PULSE_DATA_DIR ?= $(CURDIR)/.data
# The ClickHouse dialect test also runs every statement on a current
# ClickHouse (chDB, in-process) when `make chdb` has installed it.
CHDB_LIB  := $(PULSE_DATA_DIR)/chdb/node_modules/@chdb/lib-linux-x64-gnu/libchdb.so
export CHDB_LIB_PATH ?= $(wildcard $(CHDB_LIB))

.PHONY: chdb run build test test-short bench verify generate docs fmt vet engines engines-stop lint clean

run: build engines ## start the engines and `pulse dev` (API on :8080, demo data)
	$(BIN) dev

build:
	$(GO) build -o $(BIN) ./cmd/pulse

engines: ## start PostgreSQL and ClickHouse (idempotent)
	bash scripts/engines.sh start

chdb: ## install chDB (ClickHouse 26, ~530 MB, from npm) for the dialect test
	npm install --no-save --no-audit --no-fund --prefix $(PULSE_DATA_DIR)/chdb @chdb/lib-linux-x64-gnu

engines-stop:
	bash scripts/engines.sh stop

test: engines ## the full suite, race detector on, real engines
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

test-short:
	$(GO) test -count=1 -short $(PKGS)

bench: engines ## benchmarks; figures are ratios against same-run baselines
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 30m $(PKGS)

generate:
	$(GO) tool gqlgen generate

docs: ## regenerate docs/topics.md's tables and docs/schemas from topics/ and the processor definitions
	$(GO) generate ./topics

verify: generate docs ## regenerate code and docs and fail if they differ from what is committed
	gofmt -l . | tee /dev/stderr | (! read)
	$(GO) vet $(PKGS)
	git diff --exit-code -- api/graph docs

fmt:
	gofmt -w .

vet:
	$(GO) vet $(PKGS)

clean:
	rm -rf bin
