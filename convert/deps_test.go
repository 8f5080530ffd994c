package convert

import (
	"testing"

	"github.com/sgnas/sgnas/internal/testutil"
)

// TestDeps: conversion links no training code, ONNX Runtime or protobuf
// (docs/architecture.md).
func TestDeps(t *testing.T) {
	testutil.ForbidDeps(t, ".", "gorgonia", "/train/", "onnxruntime", "protobuf")
}
