// Package profiles measures device latency profiles and predicts the latency
// of any architecture from them.
//
// A profile holds the latency of every searchable layer in every distinct
// configuration (the multiset of its depthwise kernels: 83 per layer) and of
// the fixed parts (stem + first block, head + classifier), each exported on
// its own in the optimised form `sgnas export` writes (export.BuildPiece) and
// timed in ONNX Runtime under a recorded protocol, plus a linear correction
// fitted to a few whole-model measurements. Predictor turns a profile into
// the generator's Metric (Value = Base + Σ Layer) and CostModel fits the
// differentiable per-layer, per-group, per-candidate coefficients generator
// training needs. See docs/profiles.md.
package profiles

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sgnas/sgnas/internal/fsutil"
	"github.com/sgnas/sgnas/models"
)

// Schema is the schema identifier of the profile files this package writes
// and reads. A reader refuses other major versions.
const Schema = "sgnas-profile/2"

// readableSchemas are the schemas Parse accepts: version 1 profiles lack the
// speed references (they read as measured at a constant machine speed).
var readableSchemas = []string{Schema, "sgnas-profile/1"}

const schemaPrefix = "sgnas-profile/"

// Network are the network options a profile was measured with.
type Network struct {
	Space      string `json:"space"`
	SE         bool   `json:"se"`
	Activation string `json:"activation"`
	Classes    int    `json:"classes"`
}

// NetworkOf describes network options (Space must be set).
func NetworkOf(o models.Options) Network {
	return Network{Space: o.Space.Name, SE: o.SE, Activation: string(o.Activation()), Classes: o.NumClasses()}
}

// Options returns the models.Options of the network.
func (n Network) Options() (models.Options, error) {
	s, err := models.SpaceByName(n.Space)
	if err != nil {
		return models.Options{}, err
	}
	act, err := models.ParseActivation(n.Activation)
	if err != nil {
		return models.Options{}, err
	}
	if n.Classes <= 0 {
		return models.Options{}, fmt.Errorf("classes %d: want a positive number", n.Classes)
	}
	return models.Options{Space: s, SE: n.SE, Act: act, Classes: n.Classes}, nil
}

// String is e.g. "imagenet, SE, hswish, 1000 classes".
func (n Network) String() string {
	se := "no SE"
	if n.SE {
		se = "SE"
	}
	return fmt.Sprintf("%s, %s, %s, %d classes", n.Space, se, n.Activation, n.Classes)
}

// Protocol records how a profile was measured (docs/profiles.md).
type Protocol struct {
	Warmup    int    `json:"warmup"`     // untimed runs per piece, interleaved like the timed ones
	Runs      int    `json:"runs"`       // timed runs per piece
	Statistic string `json:"statistic"`  // "median"
	Order     string `json:"order"`      // how pieces are interleaved
	Spinning  bool   `json:"spinning"`   // ORT worker threads allowed to spin
	Overhead  string `json:"overhead"`   // what is subtracted and how it is measured
	Seed      uint64 `json:"seed"`       // seed of inputs, orders and calibration models
	Quick     bool   `json:"quick"`      // only QuickConfigs measured, the rest fitted
	CalModels int    `json:"cal_models"` // whole models measured for the correction
	// Reference says how each chunk's machine speed is measured and
	// divided out (empty in version 1 profiles).
	Reference string `json:"reference,omitempty"`
}

// Entry is the latency of one layer configuration: Kernels is the sorted
// kernel multiset as digits ("3557"), US the median time in microseconds with
// the per-run overhead subtracted. Fitted entries were not measured (--quick).
type Entry struct {
	Kernels string  `json:"kernels"`
	US      float64 `json:"us"`
	Fitted  bool    `json:"fitted,omitempty"`
}

// Layer holds the entries of one searchable layer and the overhead measured
// with them.
type Layer struct {
	Layer      int     `json:"layer"`
	OverheadUS float64 `json:"overhead_us"`
	// Speed is the machine speed factor of the layer's chunk: the reference
	// items' times relative to Profile.ReferenceUS (geometric mean; 1.1 =
	// 10 % slower). Entries are divided by it. 0 (version 1): not measured.
	Speed   float64 `json:"speed,omitempty"`
	Entries []Entry `json:"entries"`
}

// CalModel is one whole model measured for the correction.
type CalModel struct {
	Arch       string  `json:"arch"`        // compact form
	SumUS      float64 `json:"sum_us"`      // uncorrected prediction: fixed + layers + one overhead
	MeasuredUS float64 `json:"measured_us"` // median of the whole model
}

// Calibration is the linear correction measured ≈ A·sum + B (µs), fitted to
// whole-model measurements (see calibrate: a ratio or a least-squares line). LOO* are the leave-one-out mean
// abs % errors of the uncorrected sum and of the corrected prediction over
// those models, which show whether the correction helps.
type Calibration struct {
	A         float64    `json:"a"`
	B         float64    `json:"b_us"`
	Models    []CalModel `json:"models"`
	LOORawPct float64    `json:"loo_raw_abs_pct"`
	LOOPct    float64    `json:"loo_corrected_abs_pct"`
	Applied   bool       `json:"applied"` // false when it did not help (then A=1, B=0 are used)
	// Speed is the speed factor of the calibration chunk; MeasuredUS values
	// are divided by it (0: not measured).
	Speed float64 `json:"speed,omitempty"`
	// Method is "ratio" (B = 0), "line" or "none".
	Method string `json:"method"`
}

// Profile is a device latency profile (the JSON file).
type Profile struct {
	Schema       string      `json:"schema"`
	Created      time.Time   `json:"created"`
	SGNASVersion string      `json:"sgnas_version,omitempty"`
	Complete     bool        `json:"complete"`
	Device       Fingerprint `json:"device"`
	Network      Network     `json:"network"`
	Protocol     Protocol    `json:"protocol"`
	BuildSeconds float64     `json:"build_seconds"`
	OverheadUS   float64     `json:"overhead_us"` // per-run overhead (median over chunks), added once per model
	StemUS       float64     `json:"stem_us"`     // stem + first block
	HeadUS       float64     `json:"head_us"`     // head + classifier
	// FixedOverheadUS is the overhead measured with the fixed pieces.
	FixedOverheadUS float64      `json:"fixed_overhead_us"`
	Layers          []Layer      `json:"layers"`
	Calibration     *Calibration `json:"calibration,omitempty"`
	// ReferenceUS are the medians (µs) of the speed reference items
	// (ReferenceItems) at the profile's reference speed (the median chunk's):
	// what every chunk of the build and of a profile check is compared with.
	ReferenceUS []float64 `json:"reference_us,omitempty"`
}

// NumConfigs is the number of distinct configurations of a layer: multisets
// of kernels {3,5,7} of size 1..6.
const NumConfigs = 83

// Config is a layer configuration: how many groups use kernel 3, 5 and 7.
type Config struct{ N3, N5, N7 int }

// Expansion is N3+N5+N7.
func (c Config) Expansion() int { return c.N3 + c.N5 + c.N7 }

// Kernels is the sorted kernel list.
func (c Config) Kernels() []int {
	ks := make([]int, 0, c.Expansion())
	for i := 0; i < c.N3; i++ {
		ks = append(ks, 3)
	}
	for i := 0; i < c.N5; i++ {
		ks = append(ks, 5)
	}
	for i := 0; i < c.N7; i++ {
		ks = append(ks, 7)
	}
	return ks
}

// Key is the sorted kernel digits, e.g. "3557".
func (c Config) Key() string {
	return strings.Repeat("3", c.N3) + strings.Repeat("5", c.N5) + strings.Repeat("7", c.N7)
}

// Distinct is the number of distinct kernel sizes used.
func (c Config) Distinct() int {
	d := 0
	for _, n := range []int{c.N3, c.N5, c.N7} {
		if n > 0 {
			d++
		}
	}
	return d
}

// ConfigOf counts the kernels of a list; ok is false for an empty list, a
// list longer than 6 or a kernel other than 3, 5, 7.
func ConfigOf(kernels []int) (c Config, ok bool) {
	if len(kernels) == 0 || len(kernels) > models.NumGroups {
		return c, false
	}
	for _, k := range kernels {
		switch k {
		case 3:
			c.N3++
		case 5:
			c.N5++
		case 7:
			c.N7++
		default:
			return c, false
		}
	}
	return c, true
}

// ParseConfigKey parses a Key.
func ParseConfigKey(s string) (Config, error) {
	ks := make([]int, 0, len(s))
	prev := '0'
	for _, r := range s {
		if r < prev {
			return Config{}, fmt.Errorf("configuration %q: kernels must be sorted", s)
		}
		prev = r
		ks = append(ks, int(r-'0'))
	}
	c, ok := ConfigOf(ks)
	if !ok {
		return Config{}, fmt.Errorf("configuration %q: want 1..6 kernels from 3, 5, 7", s)
	}
	return c, nil
}

// Configs lists the 83 configurations in a fixed order (expansion, then n3
// descending, then n5 descending).
func Configs() []Config {
	var cs []Config
	for e := 1; e <= models.NumGroups; e++ {
		for n3 := e; n3 >= 0; n3-- {
			for n5 := e - n3; n5 >= 0; n5-- {
				cs = append(cs, Config{n3, n5, e - n3 - n5})
			}
		}
	}
	return cs
}

// Parse reads a profile from JSON and validates it. Partial profiles
// (Complete false, as saved during a build) are accepted only when partial
// is true.
func Parse(data []byte, partial bool) (*Profile, error) {
	var head struct {
		Schema *string `json:"schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("not valid JSON (offset %d: %v)", se.Offset, err)
		}
		return nil, fmt.Errorf("not an sgnas device profile (%v)", err)
	}
	if head.Schema == nil {
		return nil, errors.New("not an sgnas device profile (no \"schema\" field)")
	}
	if !slices.Contains(readableSchemas, *head.Schema) {
		if strings.HasPrefix(*head.Schema, schemaPrefix) {
			return nil, fmt.Errorf("profile schema %q is not supported by this sgnas (it reads %q); rebuild the profile with `sgnas profile build`", *head.Schema, Schema)
		}
		return nil, fmt.Errorf("not an sgnas device profile (schema %q)", *head.Schema)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p Profile
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("malformed profile: %v", err)
	}
	if err := p.Validate(partial); err != nil {
		return nil, err
	}
	return &p, nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Validate checks the profile's fields. A complete profile has all 19 layers
// with all 83 configurations each; a partial one may miss layers.
func (p *Profile) Validate(partial bool) error {
	if !p.Complete && !partial {
		return errors.New("profile is incomplete (an interrupted build): finish it with `sgnas profile build --resume`")
	}
	if _, err := p.Network.Options(); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	d := p.Device
	if d.EP != "cpu" && d.EP != "cuda" {
		return fmt.Errorf("device: execution provider %q: want cpu or cuda", d.EP)
	}
	if d.Threads < 0 || d.Batch < 1 || d.Cores < 0 {
		return fmt.Errorf("device: threads %d, batch %d, cores %d out of range", d.Threads, d.Batch, d.Cores)
	}
	switch d.OptLevel {
	case 0, 1, 2, 99:
	default:
		return fmt.Errorf("device: graph optimisation level %d: want 0, 1, 2 or 99", d.OptLevel)
	}
	if p.Protocol.Runs < 1 || p.Protocol.Warmup < 0 {
		return fmt.Errorf("protocol: runs %d, warmup %d out of range", p.Protocol.Runs, p.Protocol.Warmup)
	}
	for _, v := range []struct {
		name string
		x    float64
	}{{"overhead_us", p.OverheadUS}, {"fixed_overhead_us", p.FixedOverheadUS}, {"stem_us", p.StemUS}, {"head_us", p.HeadUS}, {"build_seconds", p.BuildSeconds}} {
		if !finite(v.x) || v.x < 0 {
			return fmt.Errorf("%s %v: want a finite value ≥ 0", v.name, v.x)
		}
	}
	if !partial && (p.StemUS <= 0 || p.HeadUS <= 0) {
		return errors.New("stem_us and head_us must be measured (> 0)")
	}
	seen := map[int]bool{}
	for i, l := range p.Layers {
		if l.Layer < 0 || l.Layer >= models.NumLayers || seen[l.Layer] {
			return fmt.Errorf("layers[%d]: layer %d out of range 0..18 or repeated", i, l.Layer)
		}
		seen[l.Layer] = true
		if !finite(l.OverheadUS) || l.OverheadUS < 0 {
			return fmt.Errorf("layer %d: overhead_us %v: want a finite value ≥ 0", l.Layer, l.OverheadUS)
		}
		keys := map[string]bool{}
		for _, e := range l.Entries {
			if _, err := ParseConfigKey(e.Kernels); err != nil {
				return fmt.Errorf("layer %d: %w", l.Layer, err)
			}
			if keys[e.Kernels] {
				return fmt.Errorf("layer %d: configuration %q repeated", l.Layer, e.Kernels)
			}
			keys[e.Kernels] = true
			if !finite(e.US) || e.US < 0 {
				return fmt.Errorf("layer %d, configuration %q: latency %v µs: want a finite value ≥ 0", l.Layer, e.Kernels, e.US)
			}
		}
		if !partial && len(keys) != NumConfigs {
			return fmt.Errorf("layer %d: %d configurations, want %d", l.Layer, len(keys), NumConfigs)
		}
	}
	if !partial && len(seen) != models.NumLayers {
		return fmt.Errorf("%d layers, want %d", len(seen), models.NumLayers)
	}
	if c := p.Calibration; c != nil {
		if !finite(c.A) || c.A <= 0 || !finite(c.B) {
			return fmt.Errorf("calibration: a %v, b %v: want a finite a > 0 and a finite b", c.A, c.B)
		}
		if !validSpeed(c.Speed) {
			return fmt.Errorf("calibration: speed factor %v: want a finite value in (0.1, 10) (or none)", c.Speed)
		}
	}
	if n := len(p.ReferenceUS); n != 0 && n != numReferences {
		return fmt.Errorf("reference_us: %d values, want %d", n, numReferences)
	}
	for i, v := range p.ReferenceUS {
		if !finite(v) || v <= 0 {
			return fmt.Errorf("reference_us[%d]: %v µs: want a finite value > 0", i, v)
		}
	}
	for _, l := range p.Layers {
		if !validSpeed(l.Speed) {
			return fmt.Errorf("layer %d: speed factor %v: want a finite value in (0.1, 10) (or none)", l.Layer, l.Speed)
		}
	}
	return nil
}

// validSpeed accepts 0 (not measured) and plausible speed factors.
func validSpeed(f float64) bool { return f == 0 || (finite(f) && f > 0.1 && f < 10) }

// Read reads and validates a complete profile file. Errors are one line
// naming the file.
func Read(path string) (*Profile, error) { return read(path, false) }

// ReadPartial reads a profile that may be incomplete (a build's partial file).
func ReadPartial(path string) (*Profile, error) { return read(path, true) }

func read(path string, partial bool) (*Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("profile %s: file does not exist (build one with `sgnas profile build`)", path)
		}
		return nil, fmt.Errorf("profile %s: %w", path, err)
	}
	p, err := Parse(data, partial)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", path, err)
	}
	return p, nil
}

// Marshal encodes the profile as indented JSON.
func (p *Profile) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(p, "", " ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Save writes the profile atomically.
func (p *Profile) Save(path string) error {
	b, err := p.Marshal()
	if err != nil {
		return fmt.Errorf("profile %s: %w", path, err)
	}
	return fsutil.WriteFileAtomic(path, b, 0o644)
}

// layer returns the entry list of layer l, nil when absent.
func (p *Profile) layer(l int) *Layer {
	for i := range p.Layers {
		if p.Layers[i].Layer == l {
			return &p.Layers[i]
		}
	}
	return nil
}
