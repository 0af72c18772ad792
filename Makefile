# paved: build, run and test.

GO   ?= go
BIN  := bin/paved
DATA ?= .paved

# Packages where concurrency lives; their tests run with the race detector. This is a regular
# expression over `go list ./...`, so a package that does not exist yet is simply not there.
RACE_PKGS := /internal/(store|controller|apiserver|leader|gc|catalog|githost)(/|$$)

.PHONY: build run test bench bench-catalog fmt clean

build:
	$(GO) build -o $(BIN) ./cmd/paved

run: build
	$(BIN) serve --data $(DATA) --config examples/paved.yaml

# Vet everything, then test the concurrent packages with -race and the rest without. Both test
# runs happen even when the first fails, so one run shows every failure.
test:
	$(GO) vet ./...
	@pkgs="$$($(GO) list ./...)" || exit 1; \
	race="$$(printf '%s\n' "$$pkgs" | grep -E '$(RACE_PKGS)' || true)"; \
	rest="$$(printf '%s\n' "$$pkgs" | grep -vE '$(RACE_PKGS)' || true)"; \
	status=0; \
	if [ -n "$$race" ]; then \
		echo "$(GO) test -count=1 -race <$$(echo $$race | wc -w) packages>"; \
		$(GO) test -count=1 -race $$race || status=1; \
	fi; \
	if [ -n "$$rest" ]; then \
		echo "$(GO) test -count=1 <$$(echo $$rest | wc -w) packages>"; \
		$(GO) test -count=1 $$rest || status=1; \
	fi; \
	exit $$status

# The core's figures (docs/benchmarks.md): each benchmark does a fixed amount of work once and
# prints its own metrics (objects/s, p50-ms, p99-ms, ready-max-ms, idle-rss-MB).
bench:
	$(GO) test -run '^$$' -bench . -benchtime=1x ./internal/store/sqlite/
	$(GO) test -run '^$$' -bench BenchmarkServeStartupAndIdle -benchtime=1x ./cmd/paved/

# The catalog's figures (docs/benchmarks.md): the real `paved serve` with 100,000 entities from a
# configured location (ingest, API latencies, refreshes, the server's RSS throughout and after a
# restart), then the same parts in-process with finer figures.
bench-catalog:
	$(GO) test -run '^$$' -bench 'BenchmarkServeCatalog100k' -benchtime=1x ./cmd/paved/
	$(GO) test -run '^$$' -bench 'BenchmarkIngest100k|BenchmarkRefreshOneChangedFile' -benchtime=1x ./internal/catalog/
	$(GO) test -run '^$$' -bench 'BenchmarkQuery100k' -benchtime=200x ./internal/catalog/
	$(GO) test -run '^$$' -bench 'BenchmarkPushToCatalogVisible' -benchtime=1x ./cmd/paved/

fmt:
	$(GO) fmt ./...

# Removes build output only; the data directory ($(DATA)) is state, not output.
clean:
	rm -rf bin
