package infer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/sgnas/sgnas/internal/npy"
	"github.com/sgnas/sgnas/onnx"
	"github.com/sgnas/sgnas/tensor"
)

// SessionOptions configures a Session. The zero value runs on the CPU with
// ONNX Runtime's default thread pools but with graph optimizations DISABLED
// (OptLevel 0, ORT's own numbering); use DefaultSessionOptions for the usual
// "all optimizations" setting.
type SessionOptions struct {
	// EP is the execution provider: "cpu" (or "") or "cuda".
	EP string
	// DeviceID is the CUDA device ordinal.
	DeviceID int
	// CUDNNConvAlgoSearch is the CUDA EP's cudnn_conv_algo_search:
	// "EXHAUSTIVE", "HEURISTIC" or "DEFAULT" ("" leaves ORT's default).
	CUDNNConvAlgoSearch string
	// ArenaExtendStrategy is the CUDA EP's arena_extend_strategy:
	// "kNextPowerOfTwo" or "kSameAsRequested" ("" leaves ORT's default).
	ArenaExtendStrategy string
	// IntraOpThreads and InterOpThreads size ORT's thread pools; 0 leaves
	// ORT's default (one intra-op thread per physical core).
	IntraOpThreads, InterOpThreads int
	// OptLevel is the graph optimization level: 0 disable all, 1 basic,
	// 2 extended, 99 all.
	OptLevel int
	// OptimizedModelPath, when set, makes ORT write the optimized graph there.
	OptimizedModelPath string
	// ProfilePrefix, when set, turns ORT's profiler on: when the session is
	// closed ORT writes a JSON trace (every node's kernel and time per run)
	// to a file whose name starts with this prefix (see OpProfile).
	ProfilePrefix string
	// NoSpin stops ORT's worker threads from spinning (busy-waiting for
	// work): it sets the session config entries
	// session.intra_op.allow_spinning and session.inter_op.allow_spinning to
	// "0", so idle threads sleep. Spinning (ORT's default, NoSpin false)
	// shaves microseconds off a session running back to back, but the idle
	// threads of a session keep spinning after its run and steal the cores
	// of whatever runs next — another session timed in the same process, or
	// another process. Benchmarks that interleave sessions need it off
	// (BenchConfig does so by default); see docs/infer.md.
	NoSpin bool
}

// DefaultSessionOptions returns CPU execution with all graph optimizations
// and ORT's default thread pools.
func DefaultSessionOptions() SessionOptions {
	return SessionOptions{EP: "cpu", OptLevel: 99}
}

// TensorInfo describes a model input or output. Shape uses -1 for dynamic
// (symbolic or unknown) dimensions; it is nil when the model declares no
// shape at all.
type TensorInfo struct {
	Name  string
	Shape []int64
}

// Session is an ONNX Runtime inference session on one model. Run may be
// called from several goroutines at once; Close must not race with Run.
type Session struct {
	path    string
	opts    SessionOptions
	inputs  []TensorInfo
	outputs []TensorInfo
	s       *ort.DynamicAdvancedSession
}

// CUDAHint tells the user what the CUDA execution provider needs.
const CUDAHint = "the CUDA execution provider needs ONNX Runtime with its CUDA provider (`make deps-cuda` installs " +
	"ONNX Runtime " + CUDAORTVersion + " with it; or an ONNX Runtime GPU build " + MinORTVersion + "+ through --ort-lib), " +
	"the CUDA 13 and cuDNN 9 libraries and an NVIDIA GPU; the library installed by `make deps` is CPU-only"

// ModelIO reads the float32 tensor inputs (initializers excluded) and outputs
// a model declares.
func ModelIO(m *onnx.ModelProto) (inputs, outputs []TensorInfo, err error) {
	g := m.GetGraph()
	inits := map[string]bool{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = true
	}
	conv := func(kind string, v *onnx.ValueInfoProto) (TensorInfo, error) {
		tt := v.GetType().GetTensorType()
		if tt == nil {
			return TensorInfo{}, fmt.Errorf("%s %q is not a tensor", kind, v.GetName())
		}
		if et := onnx.TensorProto_DataType(tt.GetElemType()); et != onnx.TensorProto_FLOAT {
			return TensorInfo{}, fmt.Errorf("%s %q has element type %s; sgnas runs float32 tensors only", kind, v.GetName(), et)
		}
		ti := TensorInfo{Name: v.GetName()}
		if tt.GetShape() != nil {
			ti.Shape = []int64{}
			for _, d := range tt.GetShape().GetDim() {
				if dv, ok := d.GetValue().(*onnx.TensorShapeProto_Dimension_DimValue); ok && dv.DimValue >= 0 {
					ti.Shape = append(ti.Shape, dv.DimValue)
				} else {
					ti.Shape = append(ti.Shape, -1)
				}
			}
		}
		return ti, nil
	}
	for _, v := range g.GetInput() {
		if inits[v.GetName()] {
			continue
		}
		ti, err := conv("input", v)
		if err != nil {
			return nil, nil, err
		}
		inputs = append(inputs, ti)
	}
	for _, v := range g.GetOutput() {
		ti, err := conv("output", v)
		if err != nil {
			return nil, nil, err
		}
		outputs = append(outputs, ti)
	}
	if len(outputs) == 0 {
		return nil, nil, errors.New("model declares no outputs")
	}
	return inputs, outputs, nil
}

func (o SessionOptions) ortOptions() (*ort.SessionOptions, error) {
	if o.IntraOpThreads < 0 || o.IntraOpThreads > MaxThreads {
		return nil, fmt.Errorf("threads %d: want 0 (ONNX Runtime's default) to %d", o.IntraOpThreads, MaxThreads)
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	fail := func(what string, err error) (*ort.SessionOptions, error) {
		so.Destroy()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if o.IntraOpThreads > 0 {
		if err := so.SetIntraOpNumThreads(o.IntraOpThreads); err != nil {
			return fail("set intra-op threads", err)
		}
	}
	if o.InterOpThreads > 0 {
		if err := so.SetInterOpNumThreads(o.InterOpThreads); err != nil {
			return fail("set inter-op threads", err)
		}
	}
	var lvl ort.GraphOptimizationLevel
	switch o.OptLevel {
	case 0:
		lvl = ort.GraphOptimizationLevelDisableAll
	case 1:
		lvl = ort.GraphOptimizationLevelEnableBasic
	case 2:
		lvl = ort.GraphOptimizationLevelEnableExtended
	case 99:
		lvl = ort.GraphOptimizationLevelEnableAll
	default:
		return fail("options", fmt.Errorf("graph optimization level %d: want 0, 1, 2 or 99", o.OptLevel))
	}
	if err := so.SetGraphOptimizationLevel(lvl); err != nil {
		return fail("set graph optimization level", err)
	}
	if o.NoSpin {
		for _, key := range []string{"session.intra_op.allow_spinning", "session.inter_op.allow_spinning"} {
			if err := so.AddSessionConfigEntry(key, "0"); err != nil {
				return fail("set "+key, err)
			}
		}
	}
	if o.OptimizedModelPath != "" {
		if err := so.SetOptimizedModelFilePath(o.OptimizedModelPath); err != nil {
			return fail("set optimized model path", err)
		}
	}
	if o.ProfilePrefix != "" {
		if err := so.EnableProfiling(o.ProfilePrefix); err != nil {
			return fail("enable profiling", err)
		}
	}
	switch strings.ToLower(o.EP) {
	case "", "cpu":
	case "cuda":
		co, err := ort.NewCUDAProviderOptions()
		if err != nil {
			return fail(cudaUnavailable(), fmt.Errorf("%v; %s", cleanORTError(err), CUDAHint))
		}
		defer co.Destroy()
		m := map[string]string{"device_id": fmt.Sprint(o.DeviceID)}
		if o.CUDNNConvAlgoSearch != "" {
			m["cudnn_conv_algo_search"] = o.CUDNNConvAlgoSearch
		}
		if o.ArenaExtendStrategy != "" {
			m["arena_extend_strategy"] = o.ArenaExtendStrategy
		}
		if err := co.Update(m); err != nil {
			return fail(cudaUnavailable(), fmt.Errorf("%v; %s", cleanORTError(err), CUDAHint))
		}
		if err := so.AppendExecutionProviderCUDA(co); err != nil {
			return fail(cudaUnavailable(), fmt.Errorf("%v; %s", cleanORTError(err), CUDAHint))
		}
	default:
		return fail("options", fmt.Errorf("execution provider %q: want cpu or cuda", o.EP))
	}
	return so, nil
}

// cleanORTError drops ORT's source-location prefix ("/onnxruntime_src/...cc:123
// ... [ONNXRuntimeError] : 1 : FAIL : ") so that messages stay readable.
func cleanORTError(err error) error {
	msg := err.Error()
	const marker = "[ONNXRuntimeError] : "
	i := strings.Index(msg, marker)
	if i < 0 {
		return err
	}
	rest := msg[i+len(marker):]
	// rest is "<code> : <CODE NAME> : <message>"
	if parts := strings.SplitN(rest, " : ", 3); len(parts) == 3 {
		rest = parts[1] + ": " + parts[2]
	}
	// Keep any wrapping text before ORT's source path.
	head := msg[:i]
	if j := strings.Index(head, "/onnxruntime_src/"); j >= 0 {
		head = head[:j]
	} else {
		head = ""
	}
	return errors.New(head + rest)
}

func cudaUnavailable() string {
	return fmt.Sprintf("CUDA execution provider unavailable in ONNX Runtime %s (%s)", Version(), LibraryPath())
}

// NewSession opens modelPath. ONNX Runtime is initialized with Init("") when
// Init has not been called yet.
func NewSession(modelPath string, opts SessionOptions) (*Session, error) {
	if _, err := os.Stat(modelPath); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("model %s: file does not exist", modelPath)
		}
		return nil, fmt.Errorf("model %s: %w", modelPath, err)
	}
	m, err := onnx.ReadFile(modelPath)
	if err != nil {
		return nil, err
	}
	inputs, outputs, err := ModelIO(m)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", modelPath, err)
	}
	if err := Init(""); err != nil {
		return nil, err
	}
	so, err := opts.ortOptions()
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", modelPath, err)
	}
	defer so.Destroy()
	inNames := make([]string, len(inputs))
	for i, t := range inputs {
		inNames[i] = t.Name
	}
	outNames := make([]string, len(outputs))
	for i, t := range outputs {
		outNames[i] = t.Name
	}
	s, err := ort.NewDynamicAdvancedSession(modelPath, inNames, outNames, so)
	if err != nil {
		msg := fmt.Errorf("model %s: ONNX Runtime %s could not load it: %w", modelPath, Version(), cleanORTError(err))
		if strings.EqualFold(opts.EP, "cuda") {
			return nil, fmt.Errorf("%w; %s", msg, CUDAHint)
		}
		return nil, msg
	}
	return &Session{path: modelPath, opts: opts, inputs: inputs, outputs: outputs, s: s}, nil
}

// Path is the model file the session runs.
func (s *Session) Path() string { return s.path }

// Options are the options the session was opened with.
func (s *Session) Options() SessionOptions { return s.opts }

// Inputs lists the model's inputs in feed order.
func (s *Session) Inputs() []TensorInfo { return append([]TensorInfo(nil), s.inputs...) }

// Outputs lists the model's outputs in the order Run returns them.
func (s *Session) Outputs() []TensorInfo { return append([]TensorInfo(nil), s.outputs...) }

// checkShape verifies that got fits the declared shape (-1 matches any size).
func checkShape(name string, want, got []int64) error {
	if want == nil {
		return nil
	}
	ok := len(want) == len(got)
	for i := 0; ok && i < len(want); i++ {
		ok = want[i] < 0 || want[i] == got[i]
	}
	if !ok {
		return fmt.Errorf("input %q: expected shape %s, got %s", name, npy.FormatShape(want), npy.FormatShape(got))
	}
	return nil
}

// Run feeds one array per model input (in Inputs order) and returns one array
// per output. Shapes are checked against the model first. A cancelled ctx
// aborts a run in progress.
func (s *Session) Run(ctx context.Context, inputs ...*tensor.Tensor) ([]*tensor.Tensor, error) {
	if s.s == nil {
		return nil, fmt.Errorf("model %s: session is closed", s.path)
	}
	if len(inputs) != len(s.inputs) {
		names := make([]string, len(s.inputs))
		for i, t := range s.inputs {
			names[i] = fmt.Sprintf("%s (%s)", t.Name, npy.FormatShape(t.Shape))
		}
		return nil, fmt.Errorf("model %s takes %d input(s) [%s], got %d", s.path, len(s.inputs), strings.Join(names, ", "), len(inputs))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	vals := make([]ort.Value, len(inputs))
	outs := make([]ort.Value, len(s.outputs))
	defer func() {
		for _, v := range vals {
			if v != nil {
				v.Destroy()
			}
		}
		for _, v := range outs {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	for i, a := range inputs {
		if a == nil {
			return nil, fmt.Errorf("input %q: nil array", s.inputs[i].Name)
		}
		shape := make([]int64, len(a.Shape))
		for k, d := range a.Shape {
			shape[k] = int64(d)
		}
		if err := checkShape(s.inputs[i].Name, s.inputs[i].Shape, shape); err != nil {
			return nil, fmt.Errorf("model %s: %w", s.path, err)
		}
		if len(a.Data) != a.Numel() {
			return nil, fmt.Errorf("input %q: %d values for shape %s", s.inputs[i].Name, len(a.Data), npy.FormatShape(a.Shape))
		}
		if a.Numel() == 0 {
			return nil, fmt.Errorf("input %q: empty tensor (shape %s)", s.inputs[i].Name, npy.FormatShape(a.Shape))
		}
		// NewTensor copies the shape and reads a.Data in place (no copy).
		t, err := ort.NewTensor(ort.Shape(shape), a.Data)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", s.inputs[i].Name, err)
		}
		vals[i] = t
	}
	var err error
	if ctx.Done() == nil {
		err = s.s.Run(vals, outs)
	} else {
		err = s.runCancellable(ctx, vals, outs)
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("model %s: run cancelled: %w", s.path, cerr)
		}
		return nil, fmt.Errorf("model %s: run: %w", s.path, err)
	}
	res := make([]*tensor.Tensor, len(outs))
	for i, v := range outs {
		t, ok := v.(*ort.Tensor[float32])
		if !ok {
			return nil, fmt.Errorf("model %s: output %q is %T, want a float32 tensor", s.path, s.outputs[i].Name, v)
		}
		dims := make([]int, len(t.GetShape()))
		for k, d := range t.GetShape() {
			dims[k] = int(d)
		}
		res[i] = &tensor.Tensor{Shape: dims, Data: t.GetData()}
	}
	return res, nil
}

func (s *Session) runCancellable(ctx context.Context, in, out []ort.Value) error {
	ro, err := ort.NewRunOptions()
	if err != nil {
		return err
	}
	defer ro.Destroy()
	// The cancel callback may still be running when the run returns: wait
	// for it before the deferred Destroy frees the run options.
	terminated := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(terminated)
		ro.Terminate()
	})
	defer func() {
		if !stop() {
			<-terminated
		}
	}()
	return s.s.RunWithOptions(in, out, ro)
}

// Close releases the session. It is safe to call more than once.
func (s *Session) Close() error {
	if s.s == nil {
		return nil
	}
	err := s.s.Destroy()
	s.s = nil
	return err
}
