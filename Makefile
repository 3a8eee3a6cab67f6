# Pulse: make run starts everything on embedded defaults; make test runs the
# whole suite against real engines. Both start PostgreSQL and ClickHouse
# through scripts/ (idempotent; `make engines-stop` stops them).

GO       ?= go
BIN      := bin/pulse
PKGS     := ./...
export PULSE_DATA_DIR ?= $(CURDIR)/.data

.PHONY: run build test test-short bench verify generate fmt vet engines engines-stop lint clean

run: build engines ## start the engines and `pulse dev` (API on :8080, demo data)
	$(BIN) dev

build:
	$(GO) build -o $(BIN) ./cmd/pulse

engines: ## start PostgreSQL and ClickHouse (idempotent)
	bash scripts/engines.sh start

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

verify: generate ## regenerate code and fail if it differs from what is committed
	gofmt -l . | tee /dev/stderr | (! read)
	$(GO) vet $(PKGS)
	git diff --exit-code -- api/graph

fmt:
	gofmt -w .

vet:
	$(GO) vet $(PKGS)

clean:
	rm -rf bin
