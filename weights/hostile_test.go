package weights

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pk builds pickle bytes (protocol 2) for the tests: small valid checkpoints
// in both formats, and hostile variants of them.
type pk struct{ bytes.Buffer }

func (p *pk) op(b ...byte) *pk { p.Write(b); return p }
func (p *pk) str(s string) *pk {
	p.WriteByte('X')
	binary.Write(&p.Buffer, binary.LittleEndian, uint32(len(s)))
	p.WriteString(s)
	return p
}
func (p *pk) int(v int) *pk {
	if v != int(int32(v)) {
		p.op(0x8a, 8)
		binary.Write(&p.Buffer, binary.LittleEndian, int64(v))
		return p
	}
	p.WriteByte('J')
	binary.Write(&p.Buffer, binary.LittleEndian, int32(v))
	return p
}
func (p *pk) global(module, name string) *pk {
	p.WriteString("c" + module + "\n" + name + "\n")
	return p
}
func (p *pk) ints(v ...int) *pk {
	p.op('(')
	for _, x := range v {
		p.int(x)
	}
	return p.op('t')
}

// tensorSpec is one float tensor of a test checkpoint: a view of storage key.
type tensorSpec struct {
	name          string
	key           string
	offset        int
	shape, stride []int
}

// objectPickle is the state-dict pickle: OrderedDict name → tensor, with
// storages as persistent ids of n elements (legacy adds a view field).
func objectPickle(tensors []tensorSpec, sizes map[string]int, legacy bool) []byte {
	var p pk
	p.op(0x80, 2).global("collections", "OrderedDict").op(')', 'R', '(')
	for _, t := range tensors {
		p.str(t.name).global("torch._utils", "_rebuild_tensor_v2").op('(')
		p.op('(').str("storage").global("torch", "FloatStorage").str(t.key).str("cpu").int(sizes[t.key])
		if legacy {
			p.op('N')
		}
		p.op('t', 'Q')
		p.int(t.offset).ints(t.shape...).ints(t.stride...).op(0x89)
		p.global("collections", "OrderedDict").op(')', 'R', 't', 'R')
	}
	p.op('u', '.')
	return p.Bytes()
}

func floatsLE(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// legacyPTH assembles a legacy checkpoint: magic, protocol, sys info, the
// object pickle, the key list, then each storage (count + elements).
func legacyPTH(obj []byte, keys []string, storages map[string][]float32) []byte {
	var b bytes.Buffer
	b.Write([]byte{0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.'})
	b.Write([]byte{0x80, 2, 'M', 0xe9, 0x03, '.'})
	b.Write([]byte{0x80, 2, '}', '.'})
	b.Write(obj)
	var k pk
	k.op(0x80, 2, ']', '(')
	for _, key := range keys {
		k.str(key)
	}
	k.op('e', '.')
	b.Write(k.Bytes())
	for _, key := range keys {
		binary.Write(&b, binary.LittleEndian, uint64(len(storages[key])))
		b.Write(floatsLE(storages[key]))
	}
	return b.Bytes()
}

// zipPTH assembles a zip checkpoint with stored records.
func zipPTH(t testing.TB, pkl []byte, storages map[string][]byte) []byte {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	add := func(name string, data []byte) {
		f, err := w.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		f.Write(data)
	}
	add("archive/data.pkl", pkl)
	for k, v := range storages {
		add("archive/data/"+k, v)
	}
	add("archive/version", []byte("3\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The small valid checkpoint of the tests: a 2×3 weight, a transposed view of
// it, a scalar, an empty tensor and a bias in a second storage.
var (
	smallStorages = map[string][]float32{"0": {1, 2, 3, 4, 5, 6}, "1": {0.5, -0.5}}
	smallSizes    = map[string]int{"0": 6, "1": 2}
	smallTensors  = []tensorSpec{
		{"module.w", "0", 0, []int{2, 3}, []int{3, 1}},
		{"wt", "0", 0, []int{3, 2}, []int{1, 3}},
		{"s", "0", 5, []int{}, []int{}},
		{"empty", "1", 0, []int{0, 4}, []int{4, 1}},
		{"b", "1", 0, []int{2}, []int{1}},
	}
)

func smallLegacy() []byte {
	return legacyPTH(objectPickle(smallTensors, smallSizes, true), []string{"0", "1"}, smallStorages)
}

func smallZip(t testing.TB) []byte {
	return zipPTH(t, objectPickle(smallTensors, smallSizes, false), map[string][]byte{"0": floatsLE(smallStorages["0"]), "1": floatsLE(smallStorages["1"])})
}

func writeTemp(t testing.TB, name string, data []byte) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSmallCheckpoints(t *testing.T) {
	for name, data := range map[string][]byte{"legacy.pth": smallLegacy(), "zip.pth": smallZip(t)} {
		ck, err := LoadPTHWith(writeTemp(t, name, data), LoadOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := map[string][]float32{"w": {1, 2, 3, 4, 5, 6}, "wt": {1, 4, 2, 5, 3, 6}, "s": {6}, "empty": {}, "b": {0.5, -0.5}}
		for k, v := range want {
			got := ck.Tensors[k]
			if got == nil || len(got.Data) != len(v) {
				t.Fatalf("%s: tensor %s = %v, want %v", name, k, got, v)
			}
			for i := range v {
				if got.Data[i] != v[i] {
					t.Fatalf("%s: tensor %s = %v, want %v", name, k, got.Data, v)
				}
			}
		}
		if err := ck.CheckFinite(); err != nil {
			t.Fatal(err)
		}
	}
}

// loadErr loads data written to a temp file and returns the error, failing
// when there is none, when it spans lines or does not name the file.
func loadErr(t *testing.T, what string, data []byte) string {
	t.Helper()
	p := writeTemp(t, "x.pth", data)
	start := time.Now()
	_, err := LoadPTH(p)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("%s: took %v", what, d)
	}
	if err == nil {
		t.Fatalf("%s: accepted", what)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "load "+p+": ") || strings.Contains(msg, "\n") || strings.Contains(msg, "internal error") {
		t.Errorf("%s: error %q should be one line starting with the file", what, msg)
	}
	return msg
}

// maliciousPickles are object pickles that call code, in the forms a pickle
// can take: GLOBAL+REDUCE, STACK_GLOBAL, INST, OBJ, NEWOBJ, EXT, and the
// gopickle built-ins that resolve without FindClass.
func maliciousPickles() map[string][]byte {
	call := func(module, name string) []byte {
		var p pk
		return p.op(0x80, 2).global(module, name).op('(').str("touch /tmp/pwned").op('t', 'R', '.').Bytes()
	}
	var sg pk
	sg.op(0x80, 4).op(0x8c, 2).WriteString("os")
	sg.op(0x94, 0x8c, 6).WriteString("system")
	sg.op(0x94, 0x93).str("id").op(0x85, 'R', '.')
	var inst pk
	inst.op(0x80, 0, '(').str("id").WriteString("isubprocess\nPopen\n")
	inst.op('.')
	var ext pk
	ext.op(0x80, 2, 0x82, 1).op(')', 'R', '.')
	// A state dict whose second entry smuggles a call.
	good := objectPickle(smallTensors[:1], smallSizes, true)
	nested := append([]byte{}, good[:len(good)-2]...)
	var tail pk
	tail.op('(').str("evil").global("builtins", "eval").op('(').str("1+1").op('t', 'R', 'u', 'u', '.')
	nested = append(nested, tail.Bytes()...)
	return map[string][]byte{
		"os.system":                     call("os", "system"),
		"posix.system":                  call("posix", "system"),
		"builtins.eval":                 call("builtins", "eval"),
		"builtins.exec":                 call("builtins", "exec"),
		"subprocess.Popen":              inst.Bytes(),
		"os.system via STACK_GLOBAL":    sg.Bytes(),
		"copy_reg._reconstructor":       call("copy_reg", "_reconstructor"),
		"__builtin__.object":            call("__builtin__", "object"),
		"torch.load":                    call("torch", "load"),
		"EXT1":                          ext.Bytes(),
		"builtins.eval in a state dict": nested,
	}
}

func TestMaliciousPicklesRefused(t *testing.T) {
	for what, obj := range maliciousPickles() {
		global := strings.TrimSuffix(strings.Fields(what)[0], " via")
		for format, data := range map[string][]byte{
			"legacy": legacyPTH(obj, nil, nil),
			"zip":    zipPTH(t, obj, nil),
		} {
			msg := loadErr(t, what+" "+format, data)
			want := "refusing to load: pickle references global " + global + " (not a tensor/state-dict type; sgnas never runs code from checkpoints)"
			if what == "EXT1" {
				want = "refusing to load: pickle uses the copyreg extension registry"
			}
			if !strings.Contains(msg, want) {
				t.Errorf("%s (%s): %q, want %q", what, format, msg, want)
			}
		}
	}
	if _, err := os.Stat("/tmp/pwned"); err == nil {
		t.Fatal("a pickle ran code")
	}
}

// TestHostileCheckpoints: every reported hostile .pth gives one clear line,
// quickly, without allocating what it claims.
func TestHostileCheckpoints(t *testing.T) {
	obj := func(ts []tensorSpec, sizes map[string]int) []byte { return objectPickle(ts, sizes, true) }
	one := map[string][]float32{"0": {1, 2, 3, 4, 5, 6}}
	six := map[string]int{"0": 6}
	long4 := func(n int) []byte {
		var p pk
		p.op(0x80, 2, 0x8b)
		binary.Write(&p.Buffer, binary.LittleEndian, uint32(n))
		p.Write(bytes.Repeat([]byte{0xff}, n))
		return p.op('.').Bytes()
	}
	lenOp := func(op byte, width int, n uint64) []byte {
		b := []byte{0x80, 2, op}
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], n)
		return append(append(b, w[:width]...), "abc."...)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"negative size", legacyPTH(obj([]tensorSpec{{"w", "0", 0, []int{-2, 3}, []int{3, 1}}}, six), []string{"0"}, one), "tensor w: negative size -2 in shape [-2 3]"},
		{"zero-stride huge view", legacyPTH(obj([]tensorSpec{{"w", "0", 0, []int{1 << 20, 1 << 20}, []int{0, 0}}}, six), []string{"0"}, one), "tensor w: view of shape [1048576 1048576] has more elements than its storage of 6"},
		{"view past the storage", legacyPTH(obj([]tensorSpec{{"w", "0", 4, []int{3}, []int{1}}}, six), []string{"0"}, one), "exceeds storage of 6 elements"},
		{"huge stride", legacyPTH(obj([]tensorSpec{{"w", "0", 0, []int{2, 2}, []int{math.MaxInt / 2, 1}}}, six), []string{"0"}, one), "exceeds storage of 6 elements"},
		{"storage of 2^40 elements", legacyPTH(obj(smallTensors[:1], map[string]int{"0": 1 << 40}), []string{"0"}, one), "storage 0 claims 1099511627776 elements of 4 bytes; the file has"},
		{"bit flip in a storage count", legacyPTH(obj(smallTensors[:1], map[string]int{"0": 5}), []string{"0"}, one), "storage 0: 6 elements in the file, the pickle declares 5"},
		{"storage never listed", legacyPTH(obj(smallTensors[:1], six), nil, nil), "storage 0 referenced by a tensor but missing from the storage list"},
		{"trailing bytes", append(legacyPTH(obj(smallTensors[:1], six), []string{"0"}, one), 0, 0, 0), "3 unexpected bytes after the last storage"},
		{"LONG4 of 1 MB", legacyPTH(long4(1<<20), nil, nil), "LONG4 integer of 1048576 bytes (a checkpoint needs 1 to 64)"},
		{"LONG4 of 65 bytes", legacyPTH(long4(65), nil, nil), "LONG4 integer of 65 bytes"},
		{"BINUNICODE of 4 GB", legacyPTH(lenOp('X', 4, 0xffffffff), nil, nil), "argument of 4294967295 bytes but only 10 bytes left"},
		{"BINBYTES8 of 2^62", legacyPTH(lenOp(0x8e, 8, 1<<62), nil, nil), "argument of 4611686018427387904 bytes but only 10 bytes left"},
		{"BINUNICODE8 of 2^64-1", legacyPTH(lenOp(0x8d, 8, math.MaxUint64), nil, nil), "argument of 18446744073709551615 bytes"},
		{"FRAME of 2^40", legacyPTH(lenOp(0x95, 8, 1<<40), nil, nil), "frame of 1099511627776 bytes but only 10 bytes left"},
		{"no STOP", smallLegacy()[:14], "magic number: pickle ends at byte 14 without a STOP opcode"},
		{"truncated magic", smallLegacy()[:8], "magic number: pickle opcode 0x8a at byte 2: argument of 10 bytes but only 4 bytes left"},
		{"odd dict", legacyPTH([]byte{0x80, 2, '(', 'N', 'd', '.'}, nil, nil), "odd number of dict items"},
		{"big-endian", bigEndianLegacy(), "sys info: saved on a big-endian machine"},
		{"not a checkpoint", []byte("hello world"), "not a PyTorch checkpoint"},
		{"empty file", nil, "empty file, not a PyTorch checkpoint"},
	}
	for _, c := range cases {
		msg := loadErr(t, c.name, c.data)
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s: %q, want %q", c.name, msg, c.want)
		}
	}
}

// TestHostileZip: zip records whose headers lie about their sizes are refused
// before they are read.
func TestHostileZip(t *testing.T) {
	pkl := objectPickle(smallTensors[:1], map[string]int{"0": 6}, false)
	raw := func(name string, method uint16, data []byte, usize uint64) func(*zip.Writer) {
		return func(w *zip.Writer) {
			f, err := w.CreateRaw(&zip.FileHeader{Name: name, Method: method, CompressedSize64: uint64(len(data)), UncompressedSize64: usize})
			if err != nil {
				t.Fatal(err)
			}
			f.Write(data)
		}
	}
	build := func(entries ...func(*zip.Writer)) []byte {
		var b bytes.Buffer
		w := zip.NewWriter(&b)
		for _, e := range entries {
			e(w)
		}
		w.Close()
		return b.Bytes()
	}
	good := floatsLE(smallStorages["0"])
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"data.pkl claims 1 TB", build(raw("archive/data.pkl", zip.Deflate, []byte{3, 0}, 1<<40)), "record archive/data.pkl claims 1099511627776 bytes (at most 268435456)"},
		{"deflate ratio", build(raw("archive/data.pkl", zip.Deflate, []byte{3, 0}, 100<<20)), "claims 104857600 bytes from 2 compressed bytes"},
		{"stored size mismatch", build(raw("archive/data.pkl", zip.Store, pkl, uint64(len(pkl))+10)), "stored in"},
		{"storage record size", build(raw("archive/data.pkl", zip.Store, pkl, uint64(len(pkl))), raw("archive/data/0", zip.Store, good[:20], 20)), "storage 0: record of 20 bytes, want 6 elements of 4 bytes"},
		{"storage record lies", build(raw("archive/data.pkl", zip.Store, pkl, uint64(len(pkl))), raw("archive/data/0", zip.Deflate, []byte{3, 0}, 24)), "storage 0"},
		{"no data.pkl", build(raw("archive/data/0", zip.Store, good, 24)), "no data.pkl record"},
	}
	for _, c := range cases {
		msg := loadErr(t, c.name, c.data)
		if !strings.Contains(msg, c.want) || !strings.Contains(msg, "zip-format") {
			t.Errorf("%s: %q, want %q", c.name, msg, c.want)
		}
	}
}

// TestLegacyBitFlips flips every bit of a small legacy checkpoint: each
// result is either an error line naming the file or a checkpoint (a flip in
// tensor data is undetectable: the format has no checksum); never a panic.
func TestLegacyBitFlips(t *testing.T) {
	base := smallLegacy()
	detected, accepted := 0, 0
	for i := range base {
		for bit := 0; bit < 8; bit++ {
			data := append([]byte(nil), base...)
			data[i] ^= 1 << bit
			ck, err := checkpointFromBytes("flip.pth", data, LoadOptions{})
			if err != nil {
				if msg := err.Error(); !strings.HasPrefix(msg, "load flip.pth: ") || strings.Contains(msg, "internal error") || strings.Contains(msg, "\n") {
					t.Fatalf("byte %d bit %d: %q", i, bit, msg)
				}
				detected++
				continue
			}
			accepted++
			_ = ck.CheckFinite()
		}
	}
	t.Logf("%d of %d single-bit flips detected, %d accepted (tensor data, names, requires_grad)", detected, detected+accepted, accepted)
}

func TestCheckFinite(t *testing.T) {
	sd := StateDict{"a": {Shape: []int{2, 2}, Data: []float32{1, 2, 3, 4}}, "b": {Shape: []int{2, 3}, Data: []float32{0, 0, 0, 0, float32(math.NaN()), 0}}}
	err := sd.CheckFinite()
	if err == nil || err.Error() != "tensor b[2 3]: element [1 1] is NaN (not finite)" {
		t.Fatalf("%v", err)
	}
	sd["b"].Data[4] = float32(math.Inf(-1))
	if err := (&Checkpoint{Path: "g.pth", Tensors: sd}).CheckFinite(); err == nil || err.Error() != "load g.pth: tensor b[2 3]: element [1 1] is -Inf (not finite)" {
		t.Fatalf("%v", err)
	}
	sd["b"].Data[4] = 0
	if err := sd.CheckFinite(); err != nil {
		t.Fatal(err)
	}
}

func TestHostileAmplification(t *testing.T) {
	// Twenty full views of one storage of 300k elements.
	big := make([]float32, 300_000)
	var ts []tensorSpec
	for i := 0; i < 20; i++ {
		ts = append(ts, tensorSpec{"w" + string(rune('a'+i)), "0", 0, []int{len(big)}, []int{1}})
	}
	data := legacyPTH(objectPickle(ts, map[string]int{"0": len(big)}, true), []string{"0"}, map[string][]float32{"0": big})
	if msg := loadErr(t, "repeated views", data); !strings.Contains(msg, "more than 4× the 300000 elements of their storages") {
		t.Errorf("repeated views: %q", msg)
	}
	// Deep MARK nesting and a flood of empty containers.
	deep := append([]byte{0x80, 2}, bytes.Repeat([]byte{'('}, 5000)...)
	if msg := loadErr(t, "deep marks", legacyPTH(append(deep, '.'), nil, nil)); !strings.Contains(msg, "MARKs nested over 1000 deep") {
		t.Errorf("deep marks: %q", msg)
	}
	flood := append([]byte{0x80, 2}, bytes.Repeat([]byte{'}'}, 5<<20)...)
	if msg := loadErr(t, "container flood", legacyPTH(append(flood, '.'), nil, nil)); !strings.Contains(msg, "pickle too complex") {
		t.Errorf("container flood: %q", msg)
	}
}

// TestPyTorchWrittenCheckpoints reads the small files PyTorch wrote (see
// testdata/README.md): valid ones in both formats and protocols, and
// malicious ones whose refusal names the global.
func TestPyTorchWrittenCheckpoints(t *testing.T) {
	for _, name := range []string{"valid_p4.pth", "valid_legacy.pth"} {
		ck, err := LoadPTHWith(filepath.Join("testdata", name), LoadOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := map[string][]float32{"w": {0, 1, 2, 3, 4, 5}, "wt": {0, 3, 1, 4, 2, 5}, "p": {0.5, -0.25}, "h": {1.5, 2}}
		for k, v := range want {
			got := ck.Tensors[k]
			if got == nil || len(got.Data) != len(v) {
				t.Fatalf("%s: %s = %v", name, k, got)
			}
			for i := range v {
				if got.Data[i] != v[i] {
					t.Fatalf("%s: %s = %v, want %v", name, k, got.Data, v)
				}
			}
		}
		if n := ck.Ints["n"]; n == nil || len(n.Data) != 1 || n.Data[0] != 7 {
			t.Fatalf("%s: n = %v", name, n)
		}
	}
	for name, global := range map[string]string{"malicious_zip.pth": "posix.system", "malicious_legacy.pth": "posix.system", "malicious_popen_p4.pth": "subprocess.Popen"} {
		p := filepath.Join("testdata", name)
		_, err := LoadPTH(p)
		want := "load " + p + ": refusing to load: pickle references global " + global + " (not a tensor/state-dict type; sgnas never runs code from checkpoints)"
		if err == nil || err.Error() != want {
			t.Errorf("%s: %v\nwant %s", name, err, want)
		}
	}
}

// TestGeneratorCheckpointBitFlips flips sampled bits of the authors' legacy
// generator checkpoint (../shared): never a panic or internal error; the log
// says how many the format's consistency checks catch (flips inside tensor
// data cannot be caught: the legacy format has no checksum — CheckFinite
// catches the ones that make a NaN or an infinity).
func TestGeneratorCheckpointBitFlips(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	base, err := os.ReadFile(generatorPath(t))
	if err != nil {
		t.Fatal(err)
	}
	// The pickles take the first ~6 KB; sample them densely and the data sparsely.
	var positions []int
	for i := 0; i < 6000 && i < len(base); i += 3 {
		positions = append(positions, i)
	}
	for i := 6000; i < len(base); i += 4099 {
		positions = append(positions, i)
	}
	detected, nonFinite, accepted := 0, 0, 0
	for k, i := range positions {
		data := append([]byte(nil), base...)
		data[i] ^= 1 << (k % 8)
		ck, err := checkpointFromBytes("g.pth", data, LoadOptions{})
		if err != nil {
			if msg := err.Error(); strings.Contains(msg, "internal error") || strings.Contains(msg, "\n") {
				t.Fatalf("byte %d: %q", i, msg)
			}
			detected++
			continue
		}
		if ck.CheckFinite() != nil {
			nonFinite++
		} else {
			accepted++
		}
	}
	t.Logf("%d bit flips: %d refused by the reader, %d caught by CheckFinite, %d accepted", len(positions), detected, nonFinite, accepted)
}

// bigEndianLegacy is smallLegacy with sys info {"little_endian": False}.
func bigEndianLegacy() []byte {
	b := smallLegacy()
	var si pk
	si.op(0x80, 2, '}', '(').str("little_endian").op(0x89, 'u', '.')
	return append(append(append([]byte{}, b[:21]...), si.Bytes()...), b[25:]...)
}
