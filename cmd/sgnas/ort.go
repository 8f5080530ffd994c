package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/sgnas/sgnas/infer"
)

// reexecGuard marks a process that sgnas re-executed with the CUDA
// libraries' directories on LD_LIBRARY_PATH.
const reexecGuard = "SGNAS_CUDA_REEXEC"

// initORT loads ONNX Runtime for an execution provider (infer.InitEP). For
// --ep cuda, when the CUDA libraries' directories are not on LD_LIBRARY_PATH
// (the loader reads it only at start), sgnas re-executes itself once with
// them prepended; nothing has been written by then.
func initORT(ep, lib string) error {
	err := infer.InitEP(ep, lib)
	var ld *infer.LDPathError
	if !errors.As(err, &ld) {
		return err
	}
	if os.Getenv(reexecGuard) != "" {
		return fmt.Errorf("%w (already restarted once with LD_LIBRARY_PATH=%s)", err, os.Getenv("LD_LIBRARY_PATH"))
	}
	exe, xerr := os.Executable()
	if xerr != nil {
		return fmt.Errorf("%w (cannot restart: %v)", err, xerr)
	}
	path := strings.Join(ld.Dirs, string(filepath.ListSeparator))
	if old := os.Getenv("LD_LIBRARY_PATH"); old != "" {
		path += string(filepath.ListSeparator) + old
	}
	env := append(os.Environ(), "LD_LIBRARY_PATH="+path, reexecGuard+"=1")
	if xerr := syscall.Exec(exe, os.Args, env); xerr != nil {
		return fmt.Errorf("%w (restart failed: %v)", err, xerr)
	}
	return nil // not reached
}
