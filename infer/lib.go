// Package infer runs ONNX models with ONNX Runtime through
// github.com/yalue/onnxruntime_go: it finds and loads the shared library,
// opens sessions on the CPU or CUDA execution provider, runs float32 tensors
// (.npy in and out), compares outputs for parity checks and measures latency.
package infer

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct {
	const void *(*GetApi)(uint32_t version);
	const char *(*GetVersionString)(void);
} sgnasOrtApiBase;

// sgnas_probe_ort loads the library at path (kept loaded: onnxruntime_go
// opens the same handle next) and copies its version string into out. It
// returns 0 on success, 1 when dlopen fails, 2 when the library has no
// OrtGetApiBase symbol; err receives dlerror's text.
static int sgnas_probe_ort(const char *path, char *out, int n, char *err, int errn) {
	void *h = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
	if (!h) {
		const char *e = dlerror();
		snprintf(err, errn, "%s", e ? e : "unknown dlopen error");
		return 1;
	}
	void *f = dlsym(h, "OrtGetApiBase");
	if (!f) {
		const char *e = dlerror();
		snprintf(err, errn, "%s", e ? e : "OrtGetApiBase not found");
		return 2;
	}
	const sgnasOrtApiBase *b = ((const sgnasOrtApiBase *(*)(void))f)();
	const char *v = (b && b->GetVersionString) ? b->GetVersionString() : "";
	snprintf(out, n, "%s", v ? v : "");
	return 0;
}
*/
import "C"

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	ort "github.com/yalue/onnxruntime_go"
)

// ORTVersion is the ONNX Runtime release that `make deps`
// (scripts/fetch-ort.sh) installs.
const ORTVersion = "1.24.3"

// MinORTVersion is the oldest ONNX Runtime that onnxruntime_go v1.27 (C API
// version 24) can use.
const MinORTVersion = "1.24"

// EnvLib names the environment variable that points at the library.
const EnvLib = "SGNAS_ORT_LIB"

const fixHint = "run `make deps` (scripts/fetch-ort.sh) to install ONNX Runtime " + ORTVersion +
	", or pass --ort-lib /path/to/libonnxruntime.so (or set " + EnvLib + ")"

var (
	initMu   sync.Mutex
	initPath string
	initVer  string
)

// CacheDir is where scripts/fetch-ort.sh installs the library:
// ${SGNAS_ORT_DIR} if set, else ${XDG_CACHE_HOME:-$HOME/.cache}/sgnas/onnxruntime/<ORTVersion>.
func CacheDir() string {
	if d := os.Getenv("SGNAS_ORT_DIR"); d != "" {
		return d
	}
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "sgnas", "onnxruntime", ORTVersion)
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// candidates lists, in lookup order after the flag and the environment
// variable, the paths FindLibrary tries.
func candidates() []string {
	var dirs []string
	if d := CacheDir(); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range filepath.SplitList(os.Getenv("LD_LIBRARY_PATH")) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	multiarch := map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}[runtime.GOARCH]
	dirs = append(dirs, "/usr/local/lib")
	if multiarch != "" {
		dirs = append(dirs, "/usr/local/lib/"+multiarch, "/usr/lib/"+multiarch)
	}
	dirs = append(dirs, "/usr/lib", "/usr/lib64", "/opt/onnxruntime/lib")
	names := []string{"libonnxruntime.so.1", "libonnxruntime.so"}
	if runtime.GOOS == "darwin" {
		names = []string{"libonnxruntime.dylib"}
	}
	var out []string
	for _, d := range dirs {
		for _, n := range names {
			out = append(out, filepath.Join(d, n))
		}
	}
	return out
}

// FindLibrary returns the ONNX Runtime shared library to load. Lookup order:
// flag (e.g. --ort-lib), $SGNAS_ORT_LIB, the fetch-ort.sh cache directory
// (see CacheDir), then LD_LIBRARY_PATH entries and system library
// directories (libonnxruntime.so.1, libonnxruntime.so). An explicit flag or
// environment value that does not exist is an error, not a fall-through.
func FindLibrary(flag string) (string, error) {
	if flag != "" {
		if !isFile(flag) {
			return "", fmt.Errorf("ONNX Runtime library %s (--ort-lib) does not exist; %s", flag, fixHint)
		}
		return flag, nil
	}
	if env := os.Getenv(EnvLib); env != "" {
		if !isFile(env) {
			return "", fmt.Errorf("ONNX Runtime library %s ($%s) does not exist; %s", env, EnvLib, fixHint)
		}
		return env, nil
	}
	for _, c := range candidates() {
		if isFile(c) {
			return c, nil
		}
	}
	return "", fmt.Errorf("ONNX Runtime library not found (looked in $%s, %s, LD_LIBRARY_PATH, /usr/local/lib, /usr/lib); %s",
		EnvLib, CacheDir(), fixHint)
}

// probeVersion loads the library and returns its version string.
func probeVersion(path string) (string, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var out [64]C.char
	var cerr [512]C.char
	rc := C.sgnas_probe_ort(cpath, &out[0], C.int(len(out)), &cerr[0], C.int(len(cerr)))
	switch rc {
	case 1:
		return "", fmt.Errorf("cannot load ONNX Runtime library %s: %s; %s", path, C.GoString(&cerr[0]), fixHint)
	case 2:
		return "", fmt.Errorf("%s is not an ONNX Runtime library (no OrtGetApiBase symbol); %s", path, fixHint)
	}
	return C.GoString(&out[0]), nil
}

// versionAtLeast reports whether dotted version v >= min (major.minor).
func versionAtLeast(v, min string) bool {
	parse := func(s string) (int, int, bool) {
		p := strings.SplitN(s, ".", 3)
		if len(p) < 2 {
			return 0, 0, false
		}
		a, e1 := strconv.Atoi(p[0])
		b, e2 := strconv.Atoi(strings.TrimFunc(p[1], func(r rune) bool { return r < '0' || r > '9' }))
		return a, b, e1 == nil && e2 == nil
	}
	va, vb, ok1 := parse(v)
	ma, mb, ok2 := parse(min)
	if !ok1 || !ok2 {
		return false
	}
	return va > ma || (va == ma && vb >= mb)
}

// Init loads ONNX Runtime and creates the global environment. libPath may be
// empty to use FindLibrary's lookup. Init is idempotent: later calls with an
// empty path or the same path return nil; a call naming a different library
// after a successful Init is an error (a process holds one runtime).
func Init(libPath string) error {
	initMu.Lock()
	defer initMu.Unlock()
	if initPath != "" {
		if libPath == "" || sameFile(libPath, initPath) {
			return nil
		}
		return fmt.Errorf("ONNX Runtime already initialized from %s; cannot switch to %s in the same process", initPath, libPath)
	}
	path, err := FindLibrary(libPath)
	if err != nil {
		return err
	}
	ver, err := probeVersion(path)
	if err != nil {
		return err
	}
	if !versionAtLeast(ver, MinORTVersion) {
		return fmt.Errorf("ONNX Runtime %s at %s is too old: sgnas needs %s or newer (C API 24, onnxruntime_go v1.27); %s",
			orUnknown(ver), path, MinORTVersion, fixHint)
	}
	ort.SetSharedLibraryPath(path)
	if err := ort.InitializeEnvironment(); err != nil {
		return fmt.Errorf("initialize ONNX Runtime %s from %s: %w; %s", orUnknown(ver), path, err, fixHint)
	}
	initPath, initVer = path, ver
	return nil
}

func orUnknown(v string) string {
	if v == "" {
		return "(unknown version)"
	}
	return v
}

func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// Version returns the loaded ONNX Runtime version ("" before Init).
func Version() string {
	initMu.Lock()
	defer initMu.Unlock()
	return initVer
}

// LibraryPath returns the path of the loaded library ("" before Init).
func LibraryPath() string {
	initMu.Lock()
	defer initMu.Unlock()
	return initPath
}
