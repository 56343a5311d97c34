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

vet:
	$(GO) vet ./...

fmt:
	$(GO) fmt ./...
