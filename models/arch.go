package models

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/sgnas/sgnas/internal/fsutil"
)

// Layer is one searchable layer of an architecture: the depthwise kernel size
// of each channel group, in channel-group order. Its length is the expansion.
type Layer struct {
	Kernels []int `json:"kernels"`
}

// Expansion is the number of channel groups (the expansion ratio).
func (l Layer) Expansion() int { return len(l.Kernels) }

// Arch is an architecture of a search space: 19 layers of kernel lists.
type Arch struct {
	Space  string  `json:"space"`
	Layers []Layer `json:"layers"`
}

// Validate checks the layer count, the space name, every layer's expansion
// (1..6) and every kernel (3, 5 or 7), naming the first offending layer and
// group.
func (a *Arch) Validate() error {
	if a == nil {
		return errors.New("architecture is nil")
	}
	if a.Space != "" {
		if _, err := SpaceByName(a.Space); err != nil {
			return err
		}
	}
	if len(a.Layers) != NumLayers {
		return fmt.Errorf("architecture has %d layers, want %d", len(a.Layers), NumLayers)
	}
	for l, layer := range a.Layers {
		if len(layer.Kernels) == 0 {
			return fmt.Errorf("layer %d is empty: want 1 to %d kernels", l, NumGroups)
		}
		if len(layer.Kernels) > NumGroups {
			return fmt.Errorf("layer %d has %d kernels, want at most %d", l, len(layer.Kernels), NumGroups)
		}
		for g, k := range layer.Kernels {
			if kernelIndex(k) < 0 {
				return fmt.Errorf("layer %d group %d: kernel %d not in {3,5,7}", l, g, k)
			}
		}
	}
	return nil
}

// Clone returns a deep copy.
func (a *Arch) Clone() *Arch {
	c := &Arch{Space: a.Space, Layers: make([]Layer, len(a.Layers))}
	for i, l := range a.Layers {
		c.Layers[i] = Layer{Kernels: append([]int(nil), l.Kernels...)}
	}
	return c
}

// Canonical returns a copy with each layer's groups sorted by kernel size.
// Permuting channel groups is functionally equivalent because the 1×1
// expand and project convs are dense (reference §8.19), so two architectures
// are the same network iff their canonical forms are equal.
func (a *Arch) Canonical() *Arch {
	c := a.Clone()
	for _, l := range c.Layers {
		sort.Ints(l.Kernels)
	}
	return c
}

// Equal reports whether a and b have the same space and kernel lists.
func (a *Arch) Equal(b *Arch) bool {
	if a.Space != b.Space || len(a.Layers) != len(b.Layers) {
		return false
	}
	for i := range a.Layers {
		x, y := a.Layers[i].Kernels, b.Layers[i].Kernels
		if len(x) != len(y) {
			return false
		}
		for j := range x {
			if x[j] != y[j] {
				return false
			}
		}
	}
	return true
}

// String is the compact form used in file names and metadata: per layer the
// kernel digits in group order, layers joined by "-", e.g. "5535-553-…".
func (a *Arch) String() string {
	var b strings.Builder
	for i, l := range a.Layers {
		if i > 0 {
			b.WriteByte('-')
		}
		for _, k := range l.Kernels {
			b.WriteString(strconv.Itoa(k))
		}
	}
	return b.String()
}

// ParseCompact parses the compact form written by String.
func ParseCompact(space, s string) (*Arch, error) {
	parts := strings.Split(strings.TrimSpace(s), "-")
	a := &Arch{Space: space, Layers: make([]Layer, len(parts))}
	for i, p := range parts {
		for _, r := range p {
			if r < '0' || r > '9' {
				return nil, fmt.Errorf("compact architecture: layer %d: unexpected %q", i, r)
			}
			a.Layers[i].Kernels = append(a.Layers[i].Kernels, int(r-'0'))
		}
	}
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("compact architecture: %w", err)
	}
	return a, nil
}

// MarshalIndent returns the project's architecture JSON with one layer per line.
func (a *Arch) MarshalIndent() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\n  \"space\": %q,\n  \"layers\": [\n", a.Space)
	for i, l := range a.Layers {
		ks, _ := json.Marshal(l.Kernels)
		sep := ","
		if i == len(a.Layers)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "    {\"kernels\": %s}%s\n", ks, sep)
	}
	b.WriteString("  ]\n}\n")
	return b.Bytes()
}

// Save writes the architecture JSON atomically.
func (a *Arch) Save(path string) error {
	if err := a.Validate(); err != nil {
		return fmt.Errorf("save architecture %s: %w", path, err)
	}
	return fsutil.WriteFileAtomic(path, a.MarshalIndent(), 0o644)
}

// Encoding is the authors' 19×24 architecture matrix: row = layer, column
// 4·b+j for channel group b and candidate j (0: k3, 1: k5, 2: k7, 3: skip).
// It holds a hard one-hot or probabilities.
type Encoding [NumLayers][RowLen]float64

// Encoding returns the one-hot matrix of a: group b of a layer goes to block
// b and unused blocks are skip (the authors' "encode": kernels first).
func (a *Arch) Encoding() *Encoding {
	var e Encoding
	for l, layer := range a.Layers {
		if l >= NumLayers {
			break
		}
		for b := 0; b < NumGroups; b++ {
			j := SkipCandidate
			if b < len(layer.Kernels) {
				j = kernelIndex(layer.Kernels[b])
			}
			e[l][NumCandidates*b+j] = 1
		}
	}
	return &e
}

// ArchFromEncoding decodes a hard one-hot matrix. Each group must hold exactly
// one 1 and zeros elsewhere, and group 0 may not be skip. Kernels of non-skip
// groups are kept in block order; skipped groups are dropped.
func ArchFromEncoding(space string, e *Encoding) (*Arch, error) {
	a := &Arch{Space: space, Layers: make([]Layer, NumLayers)}
	for l := 0; l < NumLayers; l++ {
		for b := 0; b < NumGroups; b++ {
			choice := -1
			for j := 0; j < NumCandidates; j++ {
				v := e[l][NumCandidates*b+j]
				switch v {
				case 0:
				case 1:
					if choice >= 0 {
						return nil, fmt.Errorf("one-hot layer %d group %d: more than one candidate set (columns %d and %d)", l, b, NumCandidates*b+choice, NumCandidates*b+j)
					}
					choice = j
				default:
					return nil, fmt.Errorf("one-hot layer %d group %d: value %g at column %d, want 0 or 1", l, b, v, NumCandidates*b+j)
				}
			}
			if choice < 0 {
				return nil, fmt.Errorf("one-hot layer %d group %d: no candidate set", l, b)
			}
			if choice == SkipCandidate {
				if b == 0 {
					return nil, fmt.Errorf("one-hot layer %d group 0 is skip: the first group of every layer must be a kernel", l)
				}
				continue
			}
			a.Layers[l].Kernels = append(a.Layers[l].Kernels, KernelSizes[choice])
		}
	}
	return a, a.Validate()
}

// encodingFromRows converts a decoded JSON matrix, checking its shape.
func encodingFromRows(rows [][]float64) (*Encoding, error) {
	if len(rows) != NumLayers {
		return nil, fmt.Errorf("one-hot has %d rows, want %d", len(rows), NumLayers)
	}
	var e Encoding
	for l, r := range rows {
		if len(r) != RowLen {
			return nil, fmt.Errorf("one-hot layer %d has %d columns, want %d", l, len(r), RowLen)
		}
		copy(e[l][:], r)
	}
	return &e, nil
}

// ArchFile is what an architecture file may carry besides the layers: the
// network options the fixture files record (space, se, activation, classes).
type ArchFile struct {
	Arch       *Arch
	SE         *bool
	Activation string
	Classes    int
}

// ParseArch parses any accepted architecture form: the project's JSON, a bare
// 19×24 one-hot array, {"onehot": …} (optionally with "space") or a prior-pool
// file with a single key. The space defaults to imagenet when absent.
func ParseArch(data []byte) (*Arch, error) {
	f, err := ParseArchFile(data)
	if err != nil {
		return nil, err
	}
	return f.Arch, nil
}

// ParseArchFile is ParseArch that also returns the options recorded in the file.
func ParseArchFile(data []byte) (*ArchFile, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, errors.New("empty architecture file")
	}
	if data[0] == '[' {
		var rows [][]float64
		if err := json.Unmarshal(data, &rows); err != nil {
			return nil, fmt.Errorf("one-hot array: %w", err)
		}
		a, err := archFromRows("imagenet", rows)
		if err != nil {
			return nil, err
		}
		return &ArchFile{Arch: a}, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("architecture JSON: %w", err)
	}
	out := &ArchFile{}
	space := "imagenet"
	if raw, ok := obj["space"]; ok {
		if err := json.Unmarshal(raw, &space); err != nil {
			return nil, fmt.Errorf("field \"space\": want a string: %w", err)
		}
	}
	if raw, ok := obj["se"]; ok {
		var se bool
		if err := json.Unmarshal(raw, &se); err != nil {
			return nil, fmt.Errorf("field \"se\": want true or false: %w", err)
		}
		out.SE = &se
	}
	if raw, ok := obj["activation"]; ok {
		if err := json.Unmarshal(raw, &out.Activation); err != nil {
			return nil, fmt.Errorf("field \"activation\": want a string: %w", err)
		}
		if _, err := ParseActivation(out.Activation); err != nil {
			return nil, fmt.Errorf("field \"activation\": %w", err)
		}
	}
	if raw, ok := obj["classes"]; ok {
		var c float64
		if err := json.Unmarshal(raw, &c); err != nil || c != math.Trunc(c) {
			return nil, fmt.Errorf("field \"classes\": want an integer from 1 to %d, got %s", MaxClasses, clip(raw))
		}
		if c < 1 || c > MaxClasses {
			return nil, fmt.Errorf("field \"classes\": %s: want 1 to %d", clip(raw), MaxClasses)
		}
		out.Classes = int(c)
	}
	switch {
	case obj["layers"] != nil:
		var a Arch
		if err := json.Unmarshal(data, &a); err != nil {
			return nil, fmt.Errorf("architecture JSON: %w", err)
		}
		if a.Space == "" {
			a.Space = space
		}
		if err := a.Validate(); err != nil {
			return nil, err
		}
		out.Arch = &a
	case obj["onehot"] != nil:
		var rows [][]float64
		if err := json.Unmarshal(obj["onehot"], &rows); err != nil {
			return nil, fmt.Errorf("field \"onehot\": want a 19×24 array of numbers: %w", err)
		}
		a, err := archFromRows(space, rows)
		if err != nil {
			return nil, err
		}
		out.Arch = a
	default:
		pool, err := parsePriorPool(space, obj)
		if err != nil {
			return nil, fmt.Errorf("architecture file has no \"layers\" or \"onehot\" field and is not a prior pool: %w", err)
		}
		if len(pool) != 1 {
			return nil, fmt.Errorf("prior pool has %d entries; an architecture file needs exactly one", len(pool))
		}
		for _, a := range pool {
			out.Arch = a
		}
	}
	if s, err := SpaceByName(out.Arch.Space); err == nil {
		out.Arch.Space = s.Name // canonical spelling
	}
	return out, nil
}

// clip shortens a raw JSON value for an error message.
func clip(raw []byte) string {
	s := strings.TrimSpace(string(raw))
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}

func archFromRows(space string, rows [][]float64) (*Arch, error) {
	e, err := encodingFromRows(rows)
	if err != nil {
		return nil, err
	}
	return ArchFromEncoding(space, e)
}

// LoadArch reads and validates an architecture file of any accepted form.
func LoadArch(path string) (*Arch, error) {
	f, err := LoadArchFile(path)
	if err != nil {
		return nil, err
	}
	return f.Arch, nil
}

// LoadArchFile is LoadArch that also returns the options recorded in the file.
func LoadArchFile(path string) (*ArchFile, error) {
	data, err := readSmallFile(path)
	if err != nil {
		return nil, fmt.Errorf("load architecture: %w", err)
	}
	f, err := ParseArchFile(data)
	if err != nil {
		return nil, fmt.Errorf("load architecture %s: %w", path, err)
	}
	return f, nil
}

// maxJSONFile bounds architecture and prior-pool files (the authors' pool of
// 20 priors is 40 KB); a larger file or an endless one (a device, a pipe) is
// refused instead of read into memory.
const maxJSONFile = 16 << 20

// readSmallFile reads path, refusing files over maxJSONFile.
func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxJSONFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxJSONFile {
		return nil, fmt.Errorf("%s: larger than %d MiB, not an architecture or prior-pool file", path, maxJSONFile>>20)
	}
	return data, nil
}

// PriorPool maps a constraint key (LUT MFLOPs) to a prior architecture.
type PriorPool map[int]*Arch

// MaxPriorKey bounds prior-pool keys (LUT MFLOPs): the spaces' constraint
// ranges lie far below it, so a larger key is a corrupt file.
const MaxPriorKey = 1_000_000

func parsePriorPool(space string, obj map[string]json.RawMessage) (PriorPool, error) {
	if len(obj) == 0 {
		return nil, errors.New("empty object")
	}
	pool := PriorPool{}
	for k, raw := range obj {
		key, err := strconv.Atoi(k)
		if err != nil {
			return nil, fmt.Errorf("key %q is not an integer", clip([]byte(k)))
		}
		if key < 1 || key > MaxPriorKey {
			return nil, fmt.Errorf("key %d: want a constraint (LUT MFLOPs) from 1 to %d", key, MaxPriorKey)
		}
		var rows [][]float64
		if err := json.Unmarshal(raw, &rows); err != nil {
			return nil, fmt.Errorf("prior %q: want a 19×24 array: %w", k, err)
		}
		a, err := archFromRows(space, rows)
		if err != nil {
			return nil, fmt.Errorf("prior %q: %w", k, err)
		}
		pool[key] = a
	}
	return pool, nil
}

// LoadPriorPool reads the authors' prior-pool JSON ({"360": 19×24 one-hot}).
func LoadPriorPool(path, space string) (PriorPool, error) {
	data, err := readSmallFile(path)
	if err != nil {
		return nil, fmt.Errorf("load prior pool: %w", err)
	}
	pool, err := ParsePriorPool(data, space)
	if err != nil {
		return nil, fmt.Errorf("load prior pool %s: %w", path, err)
	}
	return pool, nil
}

// ParsePriorPool parses the authors' prior-pool JSON. Every key must be a
// constraint from 1 to MaxPriorKey and every value a valid 19×24 one-hot.
func ParsePriorPool(data []byte, space string) (PriorPool, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("want a JSON object {\"<MFLOPs>\": 19×24 one-hot}: %w", err)
	}
	return parsePriorPool(space, obj)
}

// Marshal returns the pool in the authors' format (key → 19×24 one-hot).
func (p PriorPool) Marshal() ([]byte, error) {
	obj := make(map[string][][]float64, len(p))
	for k, a := range p {
		e := a.Encoding()
		rows := make([][]float64, NumLayers)
		for l := range rows {
			rows[l] = append([]float64(nil), e[l][:]...)
		}
		obj[strconv.Itoa(k)] = rows
	}
	return json.Marshal(obj)
}

// Save writes the pool in the authors' format (key → 19×24 one-hot).
func (p PriorPool) Save(path string) error {
	data, err := p.Marshal()
	if err != nil {
		return fmt.Errorf("save prior pool %s: %w", path, err)
	}
	return fsutil.WriteFileAtomic(path, data, 0o644)
}

// Nearest returns the key closest to target (ties: the smaller key) and its
// prior, as the authors select priors. An empty pool yields (0, nil).
func (p PriorPool) Nearest(target float64) (int, *Arch) {
	keys := make([]int, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	if len(keys) == 0 {
		return 0, nil
	}
	best := keys[0]
	for _, k := range keys[1:] {
		if abs(float64(k)-target) < abs(float64(best)-target) {
			best = k
		}
	}
	return best, p[best]
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// RandomArch samples an architecture the way the authors' prior sampler does:
// each layer gets an expansion uniform in [minE, maxE] and a uniformly random
// kernel per group.
func RandomArch(space string, rng *rand.Rand, minE, maxE int) *Arch {
	a := &Arch{Space: space, Layers: make([]Layer, NumLayers)}
	for l := range a.Layers {
		e := minE + rng.Intn(maxE-minE+1)
		ks := make([]int, e)
		for g := range ks {
			ks[g] = KernelSizes[rng.Intn(len(KernelSizes))]
		}
		a.Layers[l].Kernels = ks
	}
	return a
}
