package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgnas/sgnas/internal/testutil"
)

// stFile builds a safetensors file from a header object and data bytes.
func stFile(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func TestSafetensorsRoundTrip(t *testing.T) {
	sd := StateDict{
		"b.weight": {Shape: []int{2, 3}, Data: []float32{1, -2, 3.5, float32(math.Pi), 0, -0.25}},
		"a.bias":   {Shape: []int{1}, Data: []float32{7}},
		"scalar":   {Shape: []int{}, Data: []float32{-1.5}},
		"empty":    {Shape: []int{0, 4}, Data: []float32{}},
	}
	ints := map[string]*IntTensor{"a.num_batches_tracked": {Shape: []int{}, Data: []int64{123456789012}}}
	meta := map[string]string{"format": "pt", "producer": "sgnas test"}
	path := filepath.Join(t.TempDir(), "w.bin") // the extension does not matter
	if err := WriteSafetensors(path, sd, ints, meta); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	hl := binary.LittleEndian.Uint64(raw)
	if hl%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", hl)
	}
	// Tensors are laid out in sorted name order.
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+hl], &hdr); err != nil {
		t.Fatal(err)
	}
	var bias, weight struct {
		Offsets [2]int64 `json:"data_offsets"`
	}
	json.Unmarshal(hdr["a.bias"], &bias)
	json.Unmarshal(hdr["b.weight"], &weight)
	if bias.Offsets != [2]int64{0, 4} || weight.Offsets[0] != 12 {
		t.Errorf("offsets a.bias %v b.weight %v: want sorted order", bias.Offsets, weight.Offsets)
	}
	if f, err := DetectFormat(path); err != nil || f != FormatSafetensors {
		t.Fatalf("DetectFormat = %q, %v", f, err)
	}
	ck, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Format != FormatSafetensors || ck.Metadata["producer"] != "sgnas test" || len(ck.Metadata) != 2 {
		t.Errorf("format %q metadata %v", ck.Format, ck.Metadata)
	}
	if len(ck.Tensors) != len(sd) {
		t.Fatalf("%d tensors, want %d", len(ck.Tensors), len(sd))
	}
	for n, want := range sd {
		got := ck.Tensors[n]
		if got == nil || !sameShape(got.Shape, want.Shape) || len(got.Data) != len(want.Data) {
			t.Fatalf("tensor %s: got %+v, want %+v", n, got, want)
		}
		for i := range want.Data {
			if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
				t.Errorf("tensor %s[%d] = %v, want %v", n, i, got.Data[i], want.Data[i])
			}
		}
	}
	if it := ck.Ints["a.num_batches_tracked"]; it == nil || it.Data[0] != 123456789012 || len(it.Shape) != 0 {
		t.Errorf("int tensor %+v", it)
	}
}

func TestSafetensorsDtypes(t *testing.T) {
	// F16: 1.0 (0x3c00), -2.0 (0xc000), smallest subnormal (0x0001), 65504 (0x7bff), +inf (0x7c00)
	f16 := []uint16{0x3c00, 0xc000, 0x0001, 0x7bff, 0x7c00}
	// BF16: 1.0 (0x3f80), -0.5 (0xbf00), 3.140625 (0x4049)
	bf16 := []uint16{0x3f80, 0xbf00, 0x4049}
	var data []byte
	for _, v := range f16 {
		data = binary.LittleEndian.AppendUint16(data, v)
	}
	for _, v := range bf16 {
		data = binary.LittleEndian.AppendUint16(data, v)
	}
	data = binary.LittleEndian.AppendUint64(data, math.Float64bits(0.1))
	data = append(data, 0xff, 1) // I8 -1, U8 1
	hdr := `{"h":{"dtype":"F16","shape":[5],"data_offsets":[0,10]},` +
		`"b":{"dtype":"BF16","shape":[3],"data_offsets":[10,16]},` +
		`"d":{"dtype":"F64","shape":[],"data_offsets":[16,24]},` +
		`"i":{"dtype":"I8","shape":[1],"data_offsets":[24,25]},` +
		`"u":{"dtype":"U8","shape":[1],"data_offsets":[25,26]}}`
	ck, err := decodeSafetensors("t", bytes.NewReader(stFile(hdr, data)), int64(len(stFile(hdr, data))))
	if err != nil {
		t.Fatal(err)
	}
	wantH := []float32{1, -2, float32(math.Ldexp(1, -24)), 65504, float32(math.Inf(1))}
	for i, w := range wantH {
		if ck.Tensors["h"].Data[i] != w {
			t.Errorf("F16[%d] = %v, want %v", i, ck.Tensors["h"].Data[i], w)
		}
	}
	for i, w := range []float32{1, -0.5, 3.140625} {
		if ck.Tensors["b"].Data[i] != w {
			t.Errorf("BF16[%d] = %v, want %v", i, ck.Tensors["b"].Data[i], w)
		}
	}
	if ck.Tensors["d"].Data[0] != float32(0.1) {
		t.Errorf("F64 = %v", ck.Tensors["d"].Data[0])
	}
	if ck.Ints["i"].Data[0] != -1 || ck.Ints["u"].Data[0] != 1 {
		t.Errorf("ints %v %v", ck.Ints["i"], ck.Ints["u"])
	}
	// F16 NaN stays NaN and CheckFinite reports the infinity.
	if err := ck.Tensors.CheckFinite(); err == nil || !strings.Contains(err.Error(), "tensor h[5]") {
		t.Errorf("CheckFinite = %v", err)
	}
	if v := halfToFloat32(0x7e00); !math.IsNaN(float64(v)) {
		t.Errorf("half NaN → %v", v)
	}
	if v := halfToFloat32(0x8000); v != 0 || !math.Signbit(float64(v)) {
		t.Errorf("half -0 → %v", v)
	}
}

func TestSafetensorsModulePrefix(t *testing.T) {
	b := stFile(`{"module.a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8))
	ck, err := decodeSafetensors("t", bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if ck.Tensors["a"] == nil || len(ck.Tensors) != 1 {
		t.Fatalf("module. prefix not stripped: %v", ck.Tensors.Names())
	}
}

// TestSafetensorsHostile checks that malformed files fail with one line that
// names the file and the problem.
func TestSafetensorsHostile(t *testing.T) {
	f32 := func(n int) []byte { return make([]byte, 4*n) }
	huge := binary.LittleEndian.AppendUint64(nil, 1<<62)
	cases := []struct {
		name, want string
		file       []byte
	}{
		{"short", "truncated: 3 bytes", []byte{1, 2, 3}},
		{"header too long", "exceeds the limit", append(huge, '{', '}')},
		{"header past end", "does not fit", append(binary.LittleEndian.AppendUint64(nil, 50), []byte("{}")...)},
		{"not json", "header", stFile(`{"a":`, nil)},
		{"not object", "not a JSON object", stFile(`[1,2]`, nil)},
		{"no tensors", "no floating-point tensors", stFile(`{}`, nil)},
		{"missing field", "want dtype, shape and data_offsets", stFile(`{"a":{"dtype":"F32","shape":[1]}}`, f32(1))},
		{"bad dtype", "dtype F8_E4M3 is not supported", stFile(`{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}`, []byte{0})},
		{"unknown dtype", "dtype Q4 is not supported", stFile(`{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}`, []byte{0})},
		{"negative dim", "invalid dimension", stFile(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, f32(1))},
		{"overflow shape", "more values than its 4 bytes", stFile(`{"a":{"dtype":"F32","shape":[2147483647,2147483647,2147483647],"data_offsets":[0,4]}}`, f32(1))},
		{"shape/bytes mismatch", "needs 8 bytes, data_offsets give 12", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}}`, f32(3))},
		{"offsets out of range", "outside the 4 data bytes", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32(1))},
		{"reversed offsets", "outside", stFile(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, f32(1))},
		{"three offsets", "want [begin, end]", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, f32(1))},
		{"overlap", "overlap", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, f32(3))},
		{"gap", "leave a gap", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32(2))},
		{"trailing data", "cover 4 of the 8 data bytes", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32(2))},
		{"bad metadata", "__metadata__ must map strings to strings", stFile(`{"__metadata__":{"a":1},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32(1))},
		{"empty name", "empty name", stFile(`{"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32(1))},
		{"prefix duplicate", "appears twice", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"module.a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32(2))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeSafetensors("x.safetensors", bytes.NewReader(c.file), int64(len(c.file)))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "load x.safetensors: safetensors: ") || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line naming the file and %q", msg, c.want)
			}
		})
	}
}

func TestDetectFormat(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, want string
		data       []byte
	}{
		{"valid_p4.pth", FormatPTH, nil},
		{"valid_legacy.pth", FormatPTH, nil},
		{"text.safetensors", "neither a PyTorch checkpoint", []byte("hello world, not weights")},
		{"empty.pth", "empty file", []byte{}},
	} {
		p := filepath.Join("testdata", c.name)
		if c.data != nil {
			p = filepath.Join(dir, c.name)
			os.WriteFile(p, c.data, 0o644)
		}
		got, err := DetectFormat(p)
		if c.want == FormatPTH {
			if err != nil || got != FormatPTH {
				t.Errorf("%s: %q, %v", c.name, got, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %q, %v; want error %q", c.name, got, err, c.want)
		}
	}
	// A header of 384 bytes starts the file with 0x80, a legacy pickle's
	// first byte.
	hdr := `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`
	hdr += strings.Repeat(" ", 384-len(hdr))
	p := filepath.Join(dir, "x.pth")
	os.WriteFile(p, stFile(hdr, make([]byte, 4)), 0o644)
	if ck, err := LoadFile(p); err != nil || ck.Format != FormatSafetensors {
		t.Errorf("safetensors with a 384-byte header: %v", err)
	}
	if _, err := LoadFile(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: %v", err)
	}
}

// stPython is a minimal safetensors reader and writer following the format
// specification (json + numpy; the Python safetensors package is not
// needed): "read PATH" prints name → shape, values of every tensor as
// JSON after turning them into torch tensors; "write PATH" saves a torch
// state dict whose values the test knows.
const stPython = `
import json, struct, sys
import numpy as np
import torch

DT = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64}
NAMES = {np.dtype(v).name: k for k, v in DT.items()}

def read(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        arr = np.frombuffer(data[b:e], dtype=np.dtype(DT[info["dtype"]]).newbyteorder("<")).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out, meta

def write(path, tensors, meta):
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name in sorted(tensors):
        a = tensors[name].detach().cpu().contiguous().numpy()
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": NAMES[a.dtype.name], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))

if sys.argv[1] == "read":
    ts, meta = read(sys.argv[2])
    print(json.dumps({"meta": meta, "tensors": {k: {"shape": list(v.shape), "values": v.double().flatten().tolist(), "dtype": str(v.dtype)} for k, v in ts.items()}}))
else:
    g = torch.Generator().manual_seed(3)
    sd = {
        "features.0.weight": torch.randn(4, 3, 3, 3, generator=g),
        "features.1.running_var": torch.rand(4, generator=g, dtype=torch.float64) + 0.5,
        "classifier.weight": torch.randn(10, 4, generator=g).half(),
        "features.1.num_batches_tracked": torch.tensor(17, dtype=torch.int64),
    }
    write(sys.argv[2], sd, {"format": "pt", "source": "torch"})
    print(json.dumps({k: v.double().flatten().tolist() for k, v in sd.items()}))
`

// TestSafetensorsPython checks interop with PyTorch both ways, through a
// spec-following reader/writer in Python (numpy.frombuffer →
// torch.from_numpy).
func TestSafetensorsPython(t *testing.T) {
	testutil.RequirePython(t, "torch", "numpy")
	dir := t.TempDir()
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(testutil.Python, append([]string{"-c", stPython}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("python %v: %v\n%s", args, err, out)
		}
		return out
	}

	// Go writes → Python reads.
	sd := StateDict{
		"conv.weight": {Shape: []int{2, 1, 3, 3}, Data: make([]float32, 18)},
		"bn.bias":     {Shape: []int{2}, Data: []float32{-1e-30, 3e38}},
	}
	for i := range sd["conv.weight"].Data {
		sd["conv.weight"].Data[i] = float32(i)*0.37 - 2.9
	}
	goPath := filepath.Join(dir, "go.safetensors")
	if err := WriteSafetensors(goPath, sd, map[string]*IntTensor{"bn.num_batches_tracked": {Shape: []int{}, Data: []int64{5}}},
		map[string]string{"format": "pt", "producer": "sgnas"}); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Meta    map[string]string
		Tensors map[string]struct {
			Shape  []int
			Values []float64
			Dtype  string
		}
	}
	if err := json.Unmarshal(run("read", goPath), &got); err != nil {
		t.Fatal(err)
	}
	if got.Meta["producer"] != "sgnas" || len(got.Tensors) != 3 {
		t.Fatalf("python read meta %v, %d tensors", got.Meta, len(got.Tensors))
	}
	for n, want := range sd {
		g := got.Tensors[n]
		if g.Dtype != "torch.float32" || !sameShape(g.Shape, want.Shape) || len(g.Values) != len(want.Data) {
			t.Fatalf("python read %s: %s %v, want float32 %v", n, g.Dtype, g.Shape, want.Shape)
		}
		for i, v := range want.Data {
			if float32(g.Values[i]) != v {
				t.Errorf("python read %s[%d] = %v, want %v", n, i, g.Values[i], v)
			}
		}
	}
	if g := got.Tensors["bn.num_batches_tracked"]; g.Dtype != "torch.int64" || g.Values[0] != 5 {
		t.Errorf("python read num_batches_tracked %+v", g)
	}

	// Python (torch tensors) writes → Go reads.
	pyPath := filepath.Join(dir, "py.safetensors")
	var want map[string][]float64
	if err := json.Unmarshal(run("write", pyPath), &want); err != nil {
		t.Fatal(err)
	}
	ck, err := LoadFile(pyPath)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Metadata["source"] != "torch" {
		t.Errorf("metadata %v", ck.Metadata)
	}
	shapes := map[string][]int{"features.0.weight": {4, 3, 3, 3}, "features.1.running_var": {4}, "classifier.weight": {10, 4}}
	for n, shape := range shapes {
		g := ck.Tensors[n]
		if g == nil || !sameShape(g.Shape, shape) {
			t.Fatalf("go read %s: %+v, want shape %v", n, g, shape)
		}
		for i, v := range want[n] {
			// F32 and F16 values are float32 values exactly; F64 is rounded.
			if g.Data[i] != float32(v) {
				t.Errorf("go read %s[%d] = %v, want %v", n, i, g.Data[i], float32(v))
			}
		}
	}
	if it := ck.Ints["features.1.num_batches_tracked"]; it == nil || it.Data[0] != 17 {
		t.Errorf("go read num_batches_tracked %+v", it)
	}
}
