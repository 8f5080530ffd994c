# sgnas — see README.md. Every target works on a fresh machine with Go and npm.
GO        ?= go
BIN       := bin
ORT_VER   := 1.24.3
ORT_DIR   := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/sgnas/onnxruntime/$(ORT_VER)
ORT_LIB   := $(ORT_DIR)/libonnxruntime.so.1
DEMO_OUT  ?= demo-out
GOTEST_FLAGS ?=
FUZZTIME  ?= 30s

.PHONY: all build test bench demo deps proto clean vet fuzz

all: build

# ONNX Runtime shared library from the npm package onnxruntime-node (no install scripts run).
deps: $(ORT_LIB)
$(ORT_LIB):
	bash scripts/fetch-ort.sh

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
