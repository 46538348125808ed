# Historia — make targets. `make test` is the one command that runs every
# test of every module (it is what CI runs, see .ci/run and README.md).

GO       ?= go
# Every Go module of the repository, root first. A module listed here that
# does not exist yet is passed over.
MODULES  := . refserver bench/casbin refserver/deploy/k8stest fhir/conformance
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
TESTFLAGS ?= -race -count=1 -timeout 30m

.PHONY: test lint check-tidy generate check-generated bench tidy image

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

## lint: gofmt, then go vet and staticcheck in every module (all modules
## are checked before it fails). gofmt reads the Go files git tracks or
## would add (untracked, not ignored) that exist in the work tree.
lint:
	@set -e; out=$$(git ls-files -co --exclude-standard -z '*.go' | xargs -0 -r sh -c 'for f; do [ -f "$$f" ] && printf "%s\0" "$$f"; done' sh | xargs -0 -r gofmt -l); \
	if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi
	@bad=; for m in $(MODULES); do \
		[ -f $$m/go.mod ] || continue; \
		echo "== vet + staticcheck $$m"; \
		(cd $$m && $(GO) vet ./... && $(STATICCHECK) ./...) || bad="$$bad $$m"; \
	done; \
	if [ -n "$$bad" ]; then echo "lint failed in:$$bad"; exit 1; fi

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
	@set -e; for m in $(MODULES); do \
		[ -f $$m/go.mod ] || continue; \
		(cd $$m && $(GO) mod tidy); \
	done

## check-tidy: fail when a module's go.mod or go.sum is not what
## `go mod tidy` would write (run `make tidy` and commit).
check-tidy:
	@set -e; bad=; for m in $(MODULES); do \
		[ -f $$m/go.mod ] || continue; \
		echo "== go mod tidy -diff $$m"; \
		(cd $$m && $(GO) mod tidy -diff) || bad="$$bad $$m"; \
	done; \
	if [ -n "$$bad" ]; then echo "not tidy:$$bad; run 'make tidy' and commit"; exit 1; fi
