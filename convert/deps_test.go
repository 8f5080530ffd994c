package convert

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps: conversion links no training code, ONNX Runtime or protobuf
// (docs/architecture.md).
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, d := range strings.Fields(string(out)) {
		if strings.Contains(d, "gorgonia") || strings.Contains(d, "/train/") || strings.Contains(d, "onnxruntime") || strings.Contains(d, "protobuf") {
			t.Errorf("convert links %s", d)
		}
	}
}
