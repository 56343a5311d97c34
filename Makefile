# Everyday tasks. Tests and benchmarks run against a throwaway PostgreSQL
# cluster started by cmd/withpg, unless DATABASE_URL is already set.

GO ?= go
# Extra flags for go test, e.g. make test TESTFLAGS='-run Preflight -v'.
TESTFLAGS ?=

.DEFAULT_GOAL := build

# axe-core, the accessibility audit the browser tests in e2e/ run: a
# test-only npm dependency, installed from its lockfile when node_modules
# is missing or older than the lockfile. Nothing at run time needs Node.
A11Y := e2e/a11y
AXE := $(A11Y)/node_modules/.package-lock.json

.PHONY: build run test bench vet fmt fuzz image har-corpus har-score

# gatehouse version: stamped from git when there is a checkout.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
BUILD_DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
VERSION_PKG := github.com/gatehouse-dev/gatehouse/internal/version
LDFLAGS := -X $(VERSION_PKG).version=$(VERSION) -X $(VERSION_PKG).commit=$(COMMIT) -X $(VERSION_PKG).date=$(BUILD_DATE)

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/gatehouse ./cmd/gatehouse

# The container image, stamped like make build (no engine is needed to
# read the Dockerfile, but one is to build it).
IMAGE ?= gatehouse:latest
image:
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg BUILD_DATE=$(BUILD_DATE) -t $(IMAGE) .

run:
	$(GO) run ./cmd/gatehouse serve --local-postgres .gatehouse/pgdata --bootstrap

test: $(AXE)
	$(GO) run ./cmd/withpg -- $(GO) test -p 2 -count=1 $(TESTFLAGS) ./...
	cd deploy && $(GO) test -count=1 $(TESTFLAGS) ./...

$(AXE): $(A11Y)/package.json $(A11Y)/package-lock.json
	@command -v npm >/dev/null || { echo 'make: npm is needed for the accessibility tests (apt-get install nodejs npm)' >&2; exit 1; }
	cd $(A11Y) && npm ci --no-audit --no-fund
	@touch $@

# The doctor's HAR corpus (internal/corscheck/testdata/har): regenerated
# from Chromium (chromedp), Playwright's recordHar and chrome-har against
# the real edge; test-only npm dependencies, pinned by their lockfile.
HARNPM := scripts/harcorpus/node_modules/.package-lock.json
$(HARNPM): scripts/harcorpus/package-lock.json
	cd scripts/harcorpus && npm ci --no-audit --no-fund
	@touch $@

har-corpus: $(HARNPM)
	$(GO) run ./cmd/withpg -- env GATEHOUSE_HAR_CORPUS=1 $(GO) test -count=1 -run '^TestGenerateHARCorpus$$' -v ./e2e/

# The doctor's score per producer on the committed corpus.
har-score:
	$(GO) test -count=1 -run '^TestDoctorCorpus$$' -v ./internal/corscheck/ | grep -E 'score|^(ok|FAIL|---)'

# Every go test -fuzz target, FUZZTIME each (CI runs them after the tests).
FUZZTIME ?= 10s
fuzz:
	$(GO) run ./cmd/withpg -- env FUZZTIME=$(FUZZTIME) GO=$(GO) ./scripts/fuzz.sh

bench:
	$(GO) run ./cmd/withpg -- $(GO) test -run '^$$' -bench . -benchmem -count=1 $(TESTFLAGS) ./...

# Load test of the edge against a bare reverse proxy, and API-to-edge
# propagation, e.g. make bench-edge EDGEBENCH_FLAGS='-duration 5s'.
EDGEBENCH_FLAGS ?=
.PHONY: bench-edge
bench-edge:
	$(GO) run ./cmd/withpg -- $(GO) run ./cmd/edgebench $(EDGEBENCH_FLAGS)

# The scale harness: a 10-app and a 100k-app / 1M-token configuration
# side by side, with gatehouse edge as a separate process. A quick run:
# make bench-scale SCALE_FLAGS='-scale-apps 2000 -scale-tokens 20000'.
SCALE_FLAGS ?=
.PHONY: bench-scale
bench-scale:
	$(GO) run ./cmd/withpg -- $(GO) run ./cmd/edgebench -scale $(SCALE_FLAGS)

# Cloudflare's Terraform provider driving a real gatehouse serve
# (e2e/terraform). It needs Terraform and the provider built from source:
# scripts/build-terraform.sh builds both into .tools/terraform (about 40
# minutes, once); GATEHOUSE_TERRAFORM and GATEHOUSE_TF_PROVIDER_DIR point
# elsewhere. make test never runs it.
GATEHOUSE_TERRAFORM ?= $(CURDIR)/.tools/terraform/terraform
GATEHOUSE_TF_PROVIDER_DIR ?= $(CURDIR)/.tools/terraform/plugins
.PHONY: test-terraform
test-terraform:
	@test -x "$(GATEHOUSE_TERRAFORM)" -a -x "$(GATEHOUSE_TF_PROVIDER_DIR)/terraform-provider-cloudflare" || \
		{ echo 'make: build Terraform and the provider first: scripts/build-terraform.sh' >&2; exit 1; }
	GATEHOUSE_TERRAFORM=$(GATEHOUSE_TERRAFORM) GATEHOUSE_TF_PROVIDER_DIR=$(GATEHOUSE_TF_PROVIDER_DIR) \
		$(GO) run ./cmd/withpg -- $(GO) test -count=1 -v -run TestTerraform ./e2e/terraform/

vet:
	$(GO) vet ./...
	cd deploy && $(GO) vet ./...

fmt:
	$(GO) fmt ./...
