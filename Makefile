# sgnas — see README.md. Every target works on a fresh machine with Go and npm.
GO        ?= go
BIN       := bin
ORT_VER   := 1.24.3
ORT_DIR   := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/sgnas/onnxruntime/$(ORT_VER)
ORT_LIB   := $(ORT_DIR)/libonnxruntime.so.1
DEMO_OUT  ?= demo-out
GOTEST_FLAGS ?=
FUZZTIME  ?= 30s

.PHONY: all build test bench demo deps deps-cuda proto clean vet fuzz

all: build

# ONNX Runtime shared library from the npm package onnxruntime-node (no install scripts run).
deps: $(ORT_LIB)
$(ORT_LIB):
	bash scripts/fetch-ort.sh

# ONNX Runtime 1.29.0 with its CUDA execution provider (~290 MB download), for --ep cuda;
# see docs/infer.md. Not needed by `make test`.
deps-cuda:
	bash scripts/fetch-ort-cuda.sh

build: deps
	$(GO) build -o $(BIN)/sgnas ./cmd/sgnas
	$(GO) build -o $(BIN)/sgnas-export ./cmd/sgnas-export

vet:
	$(GO) vet ./...

test: deps
	$(GO) vet ./...
	$(GO) test $(GOTEST_FLAGS) -timeout 40m ./...

# Every native fuzz target (func FuzzXxx) of the module, FUZZTIME each; see scripts/fuzz.sh.
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) bash scripts/fuzz.sh

bench: build
	bash scripts/bench.sh

demo: build
	bash scripts/demo.sh $(DEMO_OUT)

proto:
	bash scripts/gen-proto.sh

clean:
	rm -rf $(BIN) $(DEMO_OUT)

# --- checks CI runs (.ci/run), usable alone ----------------------------------
STATICCHECK_VERSION := v0.8.2
TOOLS       := $(CURDIR)/.cache/tools
ENGINE_PKGS := ./train/nn ./train/supernet ./train/generator ./train/standalone

.PHONY: lint test-kernels

# gofmt (must list nothing), go vet, staticcheck pinned (installed into .cache/tools).
lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "not gofmt-ed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@$(TOOLS)/staticcheck -version 2>/dev/null | grep -q '($(patsubst v%,%,$(STATICCHECK_VERSION)))' || \
		GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(TOOLS)/staticcheck ./...

# The engine packages' tests once per GEMM path this CPU has (SGNAS_GEMM=avx512,
# avx2, gonum) and under -tags purego (long: each run includes the training tests).
test-kernels:
	@for p in $$($(GO) test -count=1 -run '^TestGEMMRequest$$' -v ./train/nn | sed -n 's/.*SGNAS_GEMM paths: //p'); do \
		echo "== SGNAS_GEMM=$$p"; SGNAS_GEMM=$$p $(GO) test $(GOTEST_FLAGS) -count=1 -timeout 40m $(ENGINE_PKGS) || exit 1; \
	done
	@echo "== -tags purego"
	$(GO) test -tags purego $(GOTEST_FLAGS) -count=1 -timeout 40m $(ENGINE_PKGS)
