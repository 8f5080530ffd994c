package infer

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

// sgnas_can_dlopen reports whether the dynamic loader can load name (a
// soname or a path) right now; the handle is released again.
static int sgnas_can_dlopen(const char *name) {
	void *h = dlopen(name, RTLD_LAZY | RTLD_LOCAL);
	if (!h) return 0;
	dlclose(h);
	return 1;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unsafe"
)

// CUDAORTVersion is the ONNX Runtime release of the CUDA bundle that
// `make deps-cuda` (scripts/fetch-ort-cuda.sh) installs: the core library of
// npm onnxruntime-node at that version and the CUDA provider of the same
// ONNX Runtime build (CUDA 13, cuDNN 9).
const CUDAORTVersion = "1.29.0"

// EnvCUDALibs names the environment variable listing (':'-separated)
// directories that hold the CUDA libraries (libcudart, cuBLAS, cuRAND,
// cuDNN); they are searched before the defaults (CUDALibDirs).
const EnvCUDALibs = "SGNAS_CUDA_LIBS"

// cudaProviderLibs must sit beside the ONNX Runtime core library.
var cudaProviderLibs = []string{"libonnxruntime_providers_shared.so", "libonnxruntime_providers_cuda.so"}

// CUDALibs are the NVIDIA libraries the CUDA provider of the bundle loads
// (sonames), the driver's libcuda.so.1 aside.
var CUDALibs = []string{"libcudart.so.13", "libcublasLt.so.13", "libcublas.so.13", "libcurand.so.10", "libcudnn.so.9"}

const cudaFixHint = "run `make deps-cuda` (scripts/fetch-ort-cuda.sh) to install ONNX Runtime " + CUDAORTVersion +
	" with its CUDA provider, or pass --ort-lib with an ONNX Runtime GPU build (libonnxruntime_providers_cuda.so beside it)"

// CUDABundleDir is where scripts/fetch-ort-cuda.sh installs the CUDA bundle:
// ${SGNAS_ORT_CUDA_DIR} if set, else beside CacheDir's version directory,
// named <CUDAORTVersion>-cuda.
func CUDABundleDir() string {
	if d := os.Getenv("SGNAS_ORT_CUDA_DIR"); d != "" {
		return d
	}
	c := CacheDir()
	if c == "" || os.Getenv("SGNAS_ORT_DIR") != "" {
		// An overridden CPU directory says nothing about the CUDA one.
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return ""
			}
			base = filepath.Join(home, ".cache")
		}
		return filepath.Join(base, "sgnas", "onnxruntime", CUDAORTVersion+"-cuda")
	}
	return filepath.Join(filepath.Dir(c), CUDAORTVersion+"-cuda")
}

// FindLibraryFor is FindLibrary for an execution provider: for "cuda" without
// an explicit library (flag or $SGNAS_ORT_LIB) it is the CUDA bundle's core
// library, and a missing bundle is an error saying how to install it.
func FindLibraryFor(ep, flag string) (string, error) {
	if !strings.EqualFold(ep, "cuda") || flag != "" || os.Getenv(EnvLib) != "" {
		return FindLibrary(flag)
	}
	lib := filepath.Join(CUDABundleDir(), "libonnxruntime.so.1")
	if !isFile(lib) {
		return "", fmt.Errorf("--ep cuda: ONNX Runtime's CUDA provider is not installed (%s does not exist); %s", lib, cudaFixHint)
	}
	return lib, nil
}

// InitEP is Init for an execution provider: for "cuda" it loads the CUDA
// bundle (FindLibraryFor) after CUDAPreflight has found every library the
// provider needs, so that a missing piece is one line naming it rather than
// an error from deep inside ONNX Runtime.
func InitEP(ep, libFlag string) error {
	if !strings.EqualFold(ep, "cuda") {
		return Init(libFlag)
	}
	lib, err := FindLibraryFor(ep, libFlag)
	if err != nil {
		return err
	}
	setup, err := CUDAPreflight(lib)
	if err != nil {
		return err
	}
	if miss := setup.MissingFromLDPath(); len(miss) > 0 {
		return &LDPathError{Dirs: miss}
	}
	return Init(lib)
}

// LDPathError says that the process was started without directories on
// LD_LIBRARY_PATH that the CUDA provider needs (the loader reads the variable
// only at start): restart with them prepended (cmd/sgnas re-executes itself).
type LDPathError struct{ Dirs []string }

func (e *LDPathError) Error() string {
	return fmt.Sprintf("--ep cuda: the CUDA libraries' directories must be on LD_LIBRARY_PATH when the program starts: prepend %s",
		strings.Join(e.Dirs, string(filepath.ListSeparator)))
}

// CUDALibDirs lists the directories searched for the CUDA libraries, in
// order: $SGNAS_CUDA_LIBS, LD_LIBRARY_PATH, the pip wheels' nvidia/*/lib
// directories of every Python installation found (site- and dist-packages
// under /usr/lib, /usr/local/lib, ~/.local/lib, $VIRTUAL_ENV, $CONDA_PREFIX),
// /usr/local/cuda/lib64 and /usr/local/cuda/targets/x86_64-linux/lib.
// Libraries in the system's loader cache are found without a directory.
func CUDALibDirs() []string {
	var dirs []string
	add := func(ds ...string) {
		for _, d := range ds {
			if d != "" && !slices.Contains(dirs, d) {
				dirs = append(dirs, d)
			}
		}
	}
	add(filepath.SplitList(os.Getenv(EnvCUDALibs))...)
	add(filepath.SplitList(os.Getenv("LD_LIBRARY_PATH"))...)
	var roots []string
	for _, r := range []string{"/usr/lib", "/usr/local/lib", os.Getenv("VIRTUAL_ENV") + "/lib", os.Getenv("CONDA_PREFIX") + "/lib"} {
		if r != "/lib" {
			roots = append(roots, r)
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		roots = append(roots, filepath.Join(home, ".local", "lib"))
	}
	for _, r := range roots {
		for _, pat := range []string{"python3*/site-packages/nvidia/*/lib", "python3*/dist-packages/nvidia/*/lib"} {
			m, _ := filepath.Glob(filepath.Join(r, pat))
			add(m...)
		}
	}
	add("/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib")
	return dirs
}

// CUDASetup is what CUDAPreflight found: the directory of each CUDA library
// ("" when the system loader finds it by itself), and the directories a
// process must have on LD_LIBRARY_PATH when it starts for the provider to
// load them (LDPath).
type CUDASetup struct {
	Lib    string            // the ONNX Runtime core library
	Found  map[string]string // soname → directory ("" = loader cache)
	LDPath []string
}

// driverLoadable reports whether the NVIDIA driver's library loads (tests
// replace it).
var driverLoadable = func() bool { return canDlopen("libcuda.so.1") }

// canDlopen reports whether the loader can open name now.
func canDlopen(name string) bool {
	c := C.CString(name)
	defer C.free(unsafe.Pointer(c))
	return C.sgnas_can_dlopen(c) == 1
}

// CUDAPreflight checks, without loading the provider, that everything the
// CUDA execution provider of the library at lib needs is present: the
// provider libraries beside it, the NVIDIA driver (libcuda.so.1) and the CUDA
// libraries (CUDALibs) in CUDALibDirs or the loader's cache. The error names
// the first missing piece and where it was looked for.
func CUDAPreflight(lib string) (*CUDASetup, error) {
	dir := filepath.Dir(lib)
	for _, p := range cudaProviderLibs {
		if !isFile(filepath.Join(dir, p)) {
			return nil, fmt.Errorf("--ep cuda: %s is not beside %s: that ONNX Runtime has no CUDA provider; %s", p, lib, cudaFixHint)
		}
	}
	if !driverLoadable() {
		return nil, errors.New("--ep cuda: no NVIDIA driver on this machine (libcuda.so.1 cannot be loaded); the CUDA execution provider needs an NVIDIA GPU and its driver")
	}
	s := &CUDASetup{Lib: lib, Found: map[string]string{}}
	dirs := CUDALibDirs()
	for _, so := range CUDALibs {
		found := false
		for _, d := range dirs {
			if isFile(filepath.Join(d, so)) {
				s.Found[so], found = d, true
				if !slices.Contains(s.LDPath, d) {
					s.LDPath = append(s.LDPath, d)
				}
				break
			}
		}
		if !found && so != "libcudnn.so.9" && canDlopen(so) {
			s.Found[so], found = "", true
		}
		if !found && so == "libcudnn.so.9" && canDlopen(so) && canDlopen("libcudnn.so") {
			s.Found[so], found = "", true
		}
		if !found {
			return nil, fmt.Errorf("--ep cuda: %s not found (looked in $%s, LD_LIBRARY_PATH, pip's nvidia/*/lib, /usr/local/cuda and the loader cache): install CUDA 13 and cuDNN 9 (e.g. the pip wheels nvidia-cuda-runtime, nvidia-cublas, nvidia-curand, nvidia-cudnn-cu13) and point $%s at their lib directories",
				so, EnvCUDALibs, EnvCUDALibs)
		}
	}
	// The provider opens cuDNN by its unversioned name, libcudnn.so, which
	// the pip wheels do not ship: a link to libcudnn.so.9 is made in a
	// directory of its own and put on the path.
	if d := s.Found["libcudnn.so.9"]; d != "" && !isFile(filepath.Join(d, "libcudnn.so")) {
		link, err := cudnnLink(filepath.Join(d, "libcudnn.so.9"))
		if err != nil {
			return nil, err
		}
		s.LDPath = append(s.LDPath, link)
	}
	return s, nil
}

// cudnnLink makes (or reuses) a directory holding libcudnn.so → target and
// returns it: under the CUDA bundle directory when writable, else under the
// temporary directory.
func cudnnLink(target string) (string, error) {
	sum := 0
	for _, c := range target {
		sum = sum*31 + int(c)
	}
	name := fmt.Sprintf("cudnn-link-%08x", uint32(sum))
	var lastErr error
	for _, base := range []string{CUDABundleDir(), filepath.Join(os.TempDir(), fmt.Sprintf("sgnas-%d", os.Getuid()))} {
		if base == "" {
			continue
		}
		d := filepath.Join(base, name)
		l := filepath.Join(d, "libcudnn.so")
		if t, err := os.Readlink(l); err == nil && t == target {
			return d, nil
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			lastErr = err
			continue
		}
		tmp := l + ".tmp"
		os.Remove(tmp)
		if err := os.Symlink(target, tmp); err != nil {
			lastErr = err
			continue
		}
		if err := os.Rename(tmp, l); err != nil {
			lastErr = err
			continue
		}
		return d, nil
	}
	return "", fmt.Errorf("--ep cuda: cannot make the libcudnn.so link to %s: %v", target, lastErr)
}

// MissingFromLDPath returns the directories of s.LDPath that the current
// process's LD_LIBRARY_PATH lacks. The dynamic loader reads LD_LIBRARY_PATH
// once, when a process starts: a command that needs them re-executes itself
// with them added (see cmd/sgnas), and a Go program using this package sets
// LD_LIBRARY_PATH before it starts.
func (s *CUDASetup) MissingFromLDPath() []string {
	have := filepath.SplitList(os.Getenv("LD_LIBRARY_PATH"))
	var out []string
	for _, d := range s.LDPath {
		if !slices.Contains(have, d) {
			out = append(out, d)
		}
	}
	return out
}
