# The Makefile only wraps go commands; `go build ./cmd/pacer` works without it.
GO ?= go

.PHONY: run test test-postgres generate lint bench bench-load bench-dialects build check-generated screenshots

run: ## the demo: built-in GitLab simulator, synced through the collector, served on 127.0.0.1:8080
	$(GO) run ./cmd/pacer demo

build:
	$(GO) build -buildvcs=auto -o bin/pacer ./cmd/pacer

generate:
	$(GO) tool templ generate

lint:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt: run gofmt -w on the files above"; exit 1)

check-generated: generate
	@git diff --exit-code -- '*_templ.go' || (echo "generated templ code is stale: run make generate and commit"; exit 1)

test: lint ## every suite on SQLite; again on PostgreSQL when PACER_TEST_POSTGRES names a server
	$(GO) test -race -count=1 -timeout 30m ./...
	@if [ -n "$$PACER_TEST_POSTGRES" ]; then \
		echo "PostgreSQL: the suites again against $$PACER_TEST_POSTGRES"; \
		PACER_TEST_DIALECT=postgres $(GO) test -race -count=1 -timeout 30m ./...; \
	elif [ -n "$$PACER_REQUIRE_POSTGRES" ]; then \
		echo "PACER_REQUIRE_POSTGRES is set but PACER_TEST_POSTGRES is not: the PostgreSQL run cannot be skipped (use scripts/with-postgres)"; exit 1; \
	else \
		echo "PostgreSQL tests skipped: set PACER_TEST_POSTGRES=postgres://... or run make test-postgres"; \
	fi

test-postgres: ## make test with a throwaway PostgreSQL cluster (needs the postgresql package)
	scripts/with-postgres $(MAKE) test

bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

bench-load: ; $(GO) run ./internal/benchload  # 50 clients for 20 s over every page at 1M MRs, after a sync and during one (README)

bench-dialects: ## the 1M-MR benchmarks on SQLite and on PACER_BENCH_POSTGRES, one run (README)
	scripts/bench-dialects

screenshots: ## refresh docs/screenshots from the end-to-end test in headless Chromium
	$(GO) test -count=1 -run TestEndToEnd ./web -args -update-screenshots
