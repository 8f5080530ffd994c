package nn

import (
	"errors"
	"fmt"
	"strings"
)

// Device selects where the engine runs.
type Device string

// Devices known to the engine.
const (
	CPU  Device = "cpu"
	CUDA Device = "cuda"
)

// ErrCUDAUnsupported is returned for the cuda device.
var ErrCUDAUnsupported = errors.New("device cuda: training on CUDA is not supported by this build of sgnas " +
	"(the engine's kernels are CPU-only Go; gorgonia's CUDA backend is unmaintained and needs CUDA headers and the " +
	"cuda build tag at compile time); train with --device cpu. CUDA is supported for inference of exported " +
	"ONNX models through ONNX Runtime's CUDA execution provider")

// ParseDevice parses "cpu" or "cuda" (case-insensitive).
func ParseDevice(s string) (Device, error) {
	switch d := Device(strings.ToLower(strings.TrimSpace(s))); d {
	case CPU, CUDA:
		return d, nil
	default:
		return "", fmt.Errorf("device %q: expected cpu or cuda", s)
	}
}

// Check returns nil if the engine can run on d, and a clear error otherwise.
func (d Device) Check() error {
	switch d {
	case CPU:
		return nil
	case CUDA:
		return ErrCUDAUnsupported
	default:
		return fmt.Errorf("device %q: expected cpu or cuda", string(d))
	}
}
