package weights

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkLoad is the invariant of both .pth fuzz targets: a checkpoint comes
// back with consistent tensors, or one error line naming the file, never an
// internal error (a recovered gopickle panic) or a panic.
func checkLoad(t *testing.T, data []byte) {
	ck, err := checkpointFromBytes("f.pth", data, LoadOptions{})
	if err != nil {
		msg := err.Error()
		if !strings.HasPrefix(msg, "load f.pth: ") || len(msg) <= len("load f.pth: ") {
			t.Fatalf("error does not name the file: %q", msg)
		}
		if strings.Contains(msg, "\n") || strings.Contains(msg, "internal error") {
			t.Fatalf("bad error: %q", msg)
		}
		return
	}
	for name, ts := range ck.Tensors {
		if len(ts.Data) != ts.Numel() {
			t.Fatalf("tensor %s: %d values for shape %v", name, len(ts.Data), ts.Shape)
		}
	}
	for name, ts := range ck.Ints {
		if len(ts.Data) != numel(ts.Shape) {
			t.Fatalf("int tensor %s: %d values for shape %v", name, len(ts.Data), ts.Shape)
		}
	}
	_ = ck.CheckFinite()
}

// addFiles adds the PyTorch-written testdata checkpoints as seeds.
func addFiles(f *testing.F, names ...string) {
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzLoadPTHLegacy(f *testing.F) {
	f.Add(smallLegacy())
	addFiles(f, "valid_legacy.pth", "malicious_legacy.pth")
	for _, obj := range maliciousPickles() {
		f.Add(legacyPTH(obj, nil, nil))
	}
	f.Add(legacyPTH(objectPickle([]tensorSpec{{"w", "0", 0, []int{1 << 20, 1 << 20}, []int{0, 0}}}, map[string]int{"0": 6}, true), []string{"0"}, smallStorages))
	f.Fuzz(func(t *testing.T, data []byte) { checkLoad(t, data) })
}

func FuzzLoadPTHZip(f *testing.F) {
	f.Add(smallZip(f))
	addFiles(f, "valid_p4.pth", "malicious_zip.pth", "malicious_popen_p4.pth")
	for _, obj := range maliciousPickles() {
		f.Add(zipPTH(f, obj, nil))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 4 || string(data[:4]) != "PK\x03\x04" {
			return // the legacy target covers the rest
		}
		checkLoad(t, data)
	})
}

// FuzzScanPickle feeds raw pickles to the object-pickle position of a legacy
// checkpoint: whatever the scan accepts, gopickle must decode without panic.
func FuzzScanPickle(f *testing.F) {
	f.Add(objectPickle(smallTensors, smallSizes, true))
	for _, obj := range maliciousPickles() {
		f.Add(obj)
	}
	f.Fuzz(func(t *testing.T, obj []byte) {
		checkLoad(t, legacyPTH(obj, []string{"0", "1"}, smallStorages))
	})
}

// FuzzZipParts builds a zip checkpoint from a fuzzed data.pkl and storage
// records, so mutations reach the zip reader's storage path (mutating a whole
// archive mostly breaks its CRCs).
func FuzzZipParts(f *testing.F) {
	f.Add(objectPickle(smallTensors, smallSizes, false), floatsLE(smallStorages["0"]), floatsLE(smallStorages["1"]))
	for _, obj := range maliciousPickles() {
		f.Add(obj, []byte{}, []byte{})
	}
	f.Fuzz(func(t *testing.T, pkl, rec0, rec1 []byte) {
		checkLoad(t, zipPTH(t, pkl, map[string][]byte{"0": rec0, "1": rec1}))
	})
}

// FuzzLoadSafetensors: any input yields tensors consistent with their
// shapes, or one error line naming the file.
func FuzzLoadSafetensors(f *testing.F) {
	f.Add(stFile(`{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[1],"data_offsets":[8,10]}}`, make([]byte, 10)))
	f.Add(stFile(`{"a":{"dtype":"BF16","shape":[2,1],"data_offsets":[0,4]},"n":{"dtype":"I64","shape":[],"data_offsets":[4,12]}}`, make([]byte, 12)))
	f.Add(stFile(`{"a":{"dtype":"F32","shape":[2147483647,2147483647],"data_offsets":[0,4]}}`, make([]byte, 4)))
	f.Fuzz(func(t *testing.T, data []byte) {
		ck, err := decodeSafetensors("f.safetensors", bytes.NewReader(data), int64(len(data)))
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "load f.safetensors: ") || strings.Contains(msg, "\n") {
				t.Fatalf("bad error: %q", msg)
			}
			return
		}
		var n int64
		for name, ts := range ck.Tensors {
			if len(ts.Data) != ts.Numel() {
				t.Fatalf("tensor %s: %d values for shape %v", name, len(ts.Data), ts.Shape)
			}
			n += int64(len(ts.Data))
		}
		for name, ts := range ck.Ints {
			if len(ts.Data) != numel(ts.Shape) {
				t.Fatalf("int tensor %s: %d values for shape %v", name, len(ts.Data), ts.Shape)
			}
			n += int64(len(ts.Data))
		}
		if n > int64(len(data)) {
			t.Fatalf("%d values from %d bytes", n, len(data))
		}
		_ = ck.Tensors.CheckFinite()
	})
}
