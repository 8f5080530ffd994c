#!/usr/bin/env bash
# Regenerates onnx/onnx.pb.go from onnx/onnx.proto. Needs protoc (Debian:
# protobuf-compiler) and protoc-gen-go v1.36.12
# (go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12).
# The generated file is committed, so ordinary builds need neither.
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$PATH:$(go env GOPATH)/bin"
command -v protoc >/dev/null || { echo "gen-proto: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }
command -v protoc-gen-go >/dev/null || { echo "gen-proto: protoc-gen-go not found (go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12)" >&2; exit 1; }
protoc --proto_path=onnx --go_out=onnx --go_opt=paths=source_relative onnx/onnx.proto
gofmt -l onnx/onnx.pb.go >/dev/null
echo "gen-proto: wrote onnx/onnx.pb.go"
