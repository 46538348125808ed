# Historia — make targets. `make test` is the one command that runs every
# test of every module (it is what CI runs, see .ci/run and README.md).

GO       ?= go
# Every Go module of the repository, root first. A module listed here that
# does not exist yet is passed over.
MODULES  := . refserver bench/casbin refserver/deploy/k8stest
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
TESTFLAGS ?= -race -count=1 -timeout 30m

.PHONY: test lint generate check-generated bench tidy image

## test: run all tests of all modules with the race detector. The browser
## suite runs alone, after the rest: Chromium aborts page loads with
## ERR_NETWORK_CHANGED when other packages' containers add network
## interfaces while it runs.
test: check-generated
	@set -e; for m in $(MODULES); do \
		[ -f $$m/go.mod ] || continue; \
		echo "== go test $$m"; \
		(cd $$m && $(GO) test $(TESTFLAGS) $$($(GO) list ./... | grep -v '/browsertest$$')); \
		if [ -d $$m/browsertest ]; then \
			echo "== go test $$m/browsertest"; \
			(cd $$m && $(GO) test $(TESTFLAGS) ./browsertest); \
		fi; \
	done

## lint: go vet, gofmt and staticcheck over every module.
lint:
	@set -e; out=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi
	@set -e; for m in $(MODULES); do \
		[ -f $$m/go.mod ] || continue; \
		echo "== vet + staticcheck $$m"; \
		(cd $$m && $(GO) vet ./... && $(STATICCHECK) ./...); \
	done

## generate: regenerate templ components and other generated files.
generate:
	@if [ -f refserver/go.mod ]; then cd refserver && $(GO) tool templ generate; fi

## check-generated: fail when generated files are stale or uncommitted.
check-generated: generate
	@st=$$(git status --porcelain -- '*_templ.go'); \
	if [ -n "$$st" ]; then echo "generated files are stale or untracked; run 'make generate' and commit:"; echo "$$st"; exit 1; fi

## bench: the side-by-side benchmarks quoted in docs/performance.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./rbac ./auth ./ehr
	cd bench/casbin && $(GO) test -run '^$$' -bench Compare -benchmem -count 5 .

## image: build the local PostgreSQL test image from Debian's packages, and
## the Citus image from the Citus source archive (CITUS_ARCHIVE, default
## ../shared/citus/citus-13.2.2.tar.gz).
image:
	internal/pgimage/build.sh
	internal/pgimage/build-citus.sh

## tidy: go mod tidy in every module.
tidy:
	@set -e; for m in $(MODULES); do [ -f $$m/go.mod ] && (cd $$m && $(GO) mod tidy) || true; done
