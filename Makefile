# Everyday tasks. Tests and benchmarks run against a throwaway PostgreSQL
# cluster started by cmd/withpg, unless DATABASE_URL is already set.

GO ?= go
# Extra flags for go test, e.g. make test TESTFLAGS='-run Preflight -v'.
TESTFLAGS ?=

.DEFAULT_GOAL := build
.PHONY: build run test bench vet fmt

build:
	$(GO) build -o bin/gatehouse ./cmd/gatehouse

run:
	$(GO) run ./cmd/gatehouse serve --local-postgres .gatehouse/pgdata --bootstrap

test:
	$(GO) run ./cmd/withpg -- $(GO) test -p 2 -count=1 $(TESTFLAGS) ./...

bench:
	$(GO) run ./cmd/withpg -- $(GO) test -run '^$$' -bench . -benchmem -count=1 $(TESTFLAGS) ./...

# Load test of the edge against a bare reverse proxy, and API-to-edge
# propagation, e.g. make bench-edge EDGEBENCH_FLAGS='-duration 5s'.
EDGEBENCH_FLAGS ?=
.PHONY: bench-edge
bench-edge:
	$(GO) run ./cmd/withpg -- $(GO) run ./cmd/edgebench $(EDGEBENCH_FLAGS)

vet:
	$(GO) vet ./...

fmt:
	$(GO) fmt ./...
