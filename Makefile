# consthash: one entry point for building, testing, running and benchmarking.
# `go test ./...` does not work at a workspace root, so targets loop over the
# workspace's modules.

SERVICES := relay aggregator writer query-api echoserver statblast
MODULES  := $(shell go list -m -f '{{.Dir}}')
GOFLAGS_TEST ?= -race -count=1
STATICCHECK_VERSION := v0.8.2
TOOLS := $(CURDIR)/.cache/bin

.PHONY: all build test test-unit compose-test run bench bench-relay bench-aggregator bench-query bench-writer bench-pipeline lint isolated clean backends backends-stop

all: build

## build: every service binary into bin/
build:
	@mkdir -p bin
	@for s in $(SERVICES); do echo "go build -o bin/$$s ./services/$$s"; go build -o bin/$$s ./services/$$s || exit 1; done

## test: every test of every module, with -race, on real backends (started by scripts/test.sh)
test:
	scripts/test.sh

## test-unit: every module's tests without starting external backends (they skip unless CI=true)
test-unit:
	@for m in $(MODULES); do echo "== $$m"; (cd $$m && go test $(GOFLAGS_TEST) ./...) || exit 1; done

## compose-test: docker-compose.yml run for real: built, scaled, fed, checked exactly, killed, scaled down (scripts/compose-test.sh)
compose-test:
	scripts/compose-test.sh

## run: the whole pipeline locally (embedded NATS with JetStream, SQLite under ./data); Ctrl-C stops it
run: build
	go build -o bin/local ./deploy/local
	bin/local --data data --bin bin

## bench-relay: consthash relay vs carbon-c-relay side by side (bench/relay.sh)
bench-relay: build
	bench/relay.sh

## bench-aggregator: consthash aggregator vs npm statsd 0.9.0, counted at a graphite sink, and the NATS path (bench/aggregator.sh)
bench-aggregator: build
	bench/aggregator.sh

## bench-pipeline: the whole pipeline at field scale, SERIES=200000 DURATION=5m STORE=sqlite|mysql|cassandra (bench/pipeline.sh)
bench-pipeline: build
	bench/pipeline.sh

## bench-query: query-api (SQLite and Cassandra) vs graphite-web and carbonapi+go-carbon on the same data, STORES="sqlite cassandra" (bench/query.sh)
bench-query: build
	bench/query.sh

## bench: every Go benchmark in every module
bench:
	@for m in $(MODULES); do echo "== $$m"; (cd $$m && go test -run '^$$' -bench . -benchmem ./...) || exit 1; done

## lint: go vet and staticcheck over every module
lint: $(TOOLS)/staticcheck
	@for m in $(MODULES); do echo "== $$m"; (cd $$m && go vet ./... && $(TOOLS)/staticcheck ./...) || exit 1; done

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

## isolated: build and vet each module alone (GOWORK=off), as the Docker build does
isolated:
	@mkdir -p $(CURDIR)/.cache/isolated
	@for m in $(MODULES); do echo "== $$m (GOWORK=off)"; (cd $$m && \
		if GOWORK=off go list -f '{{.Name}}' ./... | grep -qx main; then GOWORK=off go build -o $(CURDIR)/.cache/isolated/ ./...; else GOWORK=off go build ./...; fi && \
		GOWORK=off go vet ./...) || exit 1; done

## backends: start MariaDB and Cassandra for the tests (prints the env vars to export)
backends:
	scripts/mariadb.sh start
	scripts/cassandra.sh start

backends-stop:
	-scripts/cassandra.sh stop
	-scripts/mariadb.sh stop

clean:
	rm -rf bin

## bench-writer: points/s stored into each storage driver (WriteBlocks of full blocks, and Write) and bytes per point on disk (starts MariaDB and Cassandra)
bench-writer:
	@bench/writer.sh
