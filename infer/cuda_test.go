package infer

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeCUDA makes a CUDA bundle directory (core + providers, empty files) and
// library directories holding the named libraries.
func fakeCUDA(t *testing.T, libs map[string][]string) (bundle string, dirs map[string]string) {
	t.Helper()
	root := t.TempDir()
	bundle = filepath.Join(root, "bundle")
	os.MkdirAll(bundle, 0o755)
	for _, n := range append([]string{"libonnxruntime.so.1"}, cudaProviderLibs...) {
		os.WriteFile(filepath.Join(bundle, n), []byte("x"), 0o644)
	}
	dirs = map[string]string{}
	for d, names := range libs {
		p := filepath.Join(root, d)
		os.MkdirAll(p, 0o755)
		for _, n := range names {
			os.WriteFile(filepath.Join(p, n), []byte("x"), 0o644)
		}
		dirs[d] = p
	}
	return bundle, dirs
}

func withDriver(t *testing.T, ok bool) {
	old := driverLoadable
	driverLoadable = func() bool { return ok }
	t.Cleanup(func() { driverLoadable = old })
}

func TestCUDAPreflight(t *testing.T) {
	withDriver(t, true)
	bundle, dirs := fakeCUDA(t, map[string][]string{
		"cudart": {"libcudart.so.13"},
		"cublas": {"libcublasLt.so.13", "libcublas.so.13"},
		"curand": {"libcurand.so.10"},
		"cudnn":  {"libcudnn.so.9"},
	})
	t.Setenv("SGNAS_ORT_CUDA_DIR", bundle)
	t.Setenv("LD_LIBRARY_PATH", dirs["cudart"])
	t.Setenv(EnvCUDALibs, strings.Join([]string{dirs["cublas"], dirs["curand"], dirs["cudnn"]}, ":"))
	lib, err := FindLibraryFor("cuda", "")
	if err != nil || lib != filepath.Join(bundle, "libonnxruntime.so.1") {
		t.Fatalf("FindLibraryFor: %q %v", lib, err)
	}
	s, err := CUDAPreflight(lib)
	if err != nil {
		t.Fatal(err)
	}
	for _, so := range CUDALibs {
		if s.Found[so] == "" {
			t.Errorf("%s not found: %v", so, s.Found)
		}
	}
	// cuDNN is opened as libcudnn.so: a link to libcudnn.so.9 is made and put
	// on the path.
	link := s.LDPath[len(s.LDPath)-1]
	if tgt, err := os.Readlink(filepath.Join(link, "libcudnn.so")); err != nil || tgt != filepath.Join(dirs["cudnn"], "libcudnn.so.9") {
		t.Fatalf("cudnn link: %q %v (LDPath %v)", tgt, err, s.LDPath)
	}
	miss := s.MissingFromLDPath()
	if slices.Contains(miss, dirs["cudart"]) || !slices.Contains(miss, dirs["cublas"]) || !slices.Contains(miss, link) {
		t.Fatalf("missing from LD_LIBRARY_PATH: %v", miss)
	}
	// InitEP stops before loading anything and asks for a restart.
	err = InitEP("cuda", "")
	var ld *LDPathError
	if !errors.As(err, &ld) || len(ld.Dirs) != len(miss) {
		t.Fatalf("InitEP: %v", err)
	}
	// A library missing everywhere is named.
	os.Remove(filepath.Join(dirs["curand"], "libcurand.so.10"))
	if _, err := CUDAPreflight(lib); err == nil || !strings.Contains(err.Error(), "libcurand.so.10 not found") {
		t.Fatalf("missing cuRAND: %v", err)
	}
}

func TestCUDAPreflightErrors(t *testing.T) {
	bundle, _ := fakeCUDA(t, nil)
	t.Setenv("SGNAS_ORT_CUDA_DIR", filepath.Join(bundle, "absent"))
	t.Setenv(EnvLib, "")
	if _, err := FindLibraryFor("cuda", ""); err == nil || !strings.Contains(err.Error(), "make deps-cuda") {
		t.Fatalf("no bundle: %v", err)
	}
	withDriver(t, false)
	if _, err := CUDAPreflight(filepath.Join(bundle, "libonnxruntime.so.1")); err == nil || !strings.Contains(err.Error(), "libcuda.so.1") {
		t.Fatalf("no driver: %v", err)
	}
	os.Remove(filepath.Join(bundle, "libonnxruntime_providers_cuda.so"))
	if _, err := CUDAPreflight(filepath.Join(bundle, "libonnxruntime.so.1")); err == nil || !strings.Contains(err.Error(), "libonnxruntime_providers_cuda.so is not beside") {
		t.Fatalf("no provider: %v", err)
	}
	// The CPU EP ignores the CUDA bundle.
	if lib, err := FindLibraryFor("cpu", ""); err != nil || strings.Contains(lib, "absent") {
		t.Fatalf("cpu: %q %v", lib, err)
	}
}
