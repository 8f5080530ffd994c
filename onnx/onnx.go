// Package onnx holds the ONNX protobuf types sgnas writes and reads
// (generated from onnx.proto, a subset of the official schema with identical
// field numbers), small helpers for building graphs, and reading and writing
// .onnx files. It knows nothing about SGNAS.
package onnx

//go:generate bash ../scripts/gen-proto.sh

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/sgnas/sgnas/internal/fsutil"
)

// IRVersion is the ONNX IR version written by NewModel. IR 8 (ONNX 1.10+)
// keeps files readable by Debian's onnx 1.12 checker and every ORT >= 1.10.
const IRVersion = 8

// GraphBuilder accumulates nodes, initializers, inputs and outputs of one
// graph. Its methods panic on programming errors (a data length that does not
// match the dimensions, an unsupported dimension type), never on user data.
type GraphBuilder struct {
	g       *GraphProto
	counts  map[string]int
	nodeIDs map[string]bool
}

// NewGraph starts a graph with the given name.
func NewGraph(name string) *GraphBuilder {
	return &GraphBuilder{g: &GraphProto{Name: name}, counts: map[string]int{}, nodeIDs: map[string]bool{}}
}

func numElements(dims []int64) int64 {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	return n
}

// CheckedElements is the element count of dims read from a file (an
// initializer, a model input): an error unless every dim is non-negative and
// the product is at most 2^31 (8 GiB of float32), so callers never overflow or
// allocate what a hostile file claims.
func CheckedElements(dims []int64) (int64, error) {
	const limit = 1 << 31
	n := int64(1)
	for _, d := range dims {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in dims %v", dims)
		}
		if d != 0 && n > limit/d {
			return 0, fmt.Errorf("dims %v: more than %d elements", dims, int64(limit))
		}
		n *= d
	}
	return n, nil
}

// FloatTensor returns a float32 TensorProto holding data (little-endian
// raw_data) with the given name and dimensions. It panics when len(data) is
// not the product of dims.
func FloatTensor(name string, dims []int64, data []float32) *TensorProto {
	if int64(len(data)) != numElements(dims) {
		panic(fmt.Sprintf("onnx: tensor %q: %d values for dims %v (want %d)", name, len(data), dims, numElements(dims)))
	}
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &TensorProto{Name: name, Dims: append([]int64(nil), dims...), DataType: int32(TensorProto_FLOAT), RawData: raw}
}

// Int64Tensor returns an int64 TensorProto holding data (little-endian
// raw_data). It panics when len(data) is not the product of dims.
func Int64Tensor(name string, dims []int64, data []int64) *TensorProto {
	if int64(len(data)) != numElements(dims) {
		panic(fmt.Sprintf("onnx: tensor %q: %d values for dims %v (want %d)", name, len(data), dims, numElements(dims)))
	}
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return &TensorProto{Name: name, Dims: append([]int64(nil), dims...), DataType: int32(TensorProto_INT64), RawData: raw}
}

// FloatData decodes the values of a float32 tensor stored either in raw_data
// or in float_data.
func FloatData(t *TensorProto) ([]float32, error) {
	if t.GetDataType() != int32(TensorProto_FLOAT) {
		return nil, fmt.Errorf("tensor %q: data type %s, want FLOAT", t.GetName(), TensorProto_DataType(t.GetDataType()))
	}
	n, err := CheckedElements(t.GetDims())
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.GetName(), err)
	}
	if t.GetDataLocation() == TensorProto_EXTERNAL {
		return nil, fmt.Errorf("tensor %q: external data is not supported", t.GetName())
	}
	if raw := t.GetRawData(); raw != nil {
		if int64(len(raw)) != 4*n {
			return nil, fmt.Errorf("tensor %q: raw_data has %d bytes, want %d for dims %v", t.GetName(), len(raw), 4*n, t.GetDims())
		}
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return out, nil
	}
	if int64(len(t.GetFloatData())) != n {
		return nil, fmt.Errorf("tensor %q: %d float_data values, want %d for dims %v", t.GetName(), len(t.GetFloatData()), n, t.GetDims())
	}
	return append([]float32(nil), t.GetFloatData()...), nil
}

// AddInitializer adds a float32 constant tensor (weights). It panics when
// len(data) is not the product of dims.
func (g *GraphBuilder) AddInitializer(name string, dims []int64, data []float32) {
	g.g.Initializer = append(g.g.Initializer, FloatTensor(name, dims, data))
}

// AddInitializerInt64 adds an int64 constant tensor (shapes, indices). It
// panics when len(data) is not the product of dims.
func (g *GraphBuilder) AddInitializerInt64(name string, dims []int64, data []int64) {
	g.g.Initializer = append(g.g.Initializer, Int64Tensor(name, dims, data))
}

// AddNode appends a node of the default domain and returns it so the caller
// may adjust it (e.g. set Domain). Its name is generated from opType and is
// unique within the graph ("Conv_0", "Conv_1", ...).
func (g *GraphBuilder) AddNode(opType string, inputs, outputs []string, attrs ...*AttributeProto) *NodeProto {
	var name string
	for {
		name = fmt.Sprintf("%s_%d", opType, g.counts[opType])
		g.counts[opType]++
		if !g.nodeIDs[name] {
			break
		}
	}
	g.nodeIDs[name] = true
	n := &NodeProto{
		Name:      name,
		OpType:    opType,
		Input:     append([]string(nil), inputs...),
		Output:    append([]string(nil), outputs...),
		Attribute: attrs,
	}
	g.g.Node = append(g.g.Node, n)
	return n
}

// TensorValueInfo describes a float32 tensor value. Each dim is an integer
// (int, int32 or int64: a fixed size) or a string (a symbolic, dynamic size
// such as "batch"). It panics on any other dim type.
func TensorValueInfo(name string, dims ...any) *ValueInfoProto {
	shape := &TensorShapeProto{}
	for i, d := range dims {
		dim := &TensorShapeProto_Dimension{}
		switch v := d.(type) {
		case int:
			dim.Value = &TensorShapeProto_Dimension_DimValue{DimValue: int64(v)}
		case int32:
			dim.Value = &TensorShapeProto_Dimension_DimValue{DimValue: int64(v)}
		case int64:
			dim.Value = &TensorShapeProto_Dimension_DimValue{DimValue: v}
		case string:
			dim.Value = &TensorShapeProto_Dimension_DimParam{DimParam: v}
		default:
			panic(fmt.Sprintf("onnx: value %q dim %d: unsupported type %T (want int, int64 or string)", name, i, d))
		}
		shape.Dim = append(shape.Dim, dim)
	}
	return &ValueInfoProto{
		Name: name,
		Type: &TypeProto{Value: &TypeProto_TensorType{TensorType: &TypeProto_Tensor{
			ElemType: int32(TensorProto_FLOAT),
			Shape:    shape,
		}}},
	}
}

// AddInput declares a float32 graph input; see TensorValueInfo for dims.
func (g *GraphBuilder) AddInput(name string, dims ...any) {
	g.g.Input = append(g.g.Input, TensorValueInfo(name, dims...))
}

// AddOutput declares a float32 graph output; see TensorValueInfo for dims.
func (g *GraphBuilder) AddOutput(name string, dims ...any) {
	g.g.Output = append(g.g.Output, TensorValueInfo(name, dims...))
}

// Graph returns the graph built so far. The builder keeps a reference, so
// later Add calls change the returned graph too.
func (g *GraphBuilder) Graph() *GraphProto { return g.g }

// AttrInt returns an INT attribute.
func AttrInt(name string, v int64) *AttributeProto {
	return &AttributeProto{Name: name, Type: AttributeProto_INT, I: v}
}

// AttrInts returns an INTS attribute.
func AttrInts(name string, v ...int64) *AttributeProto {
	return &AttributeProto{Name: name, Type: AttributeProto_INTS, Ints: append([]int64{}, v...)}
}

// AttrFloat returns a FLOAT attribute.
func AttrFloat(name string, v float32) *AttributeProto {
	return &AttributeProto{Name: name, Type: AttributeProto_FLOAT, F: v}
}

// AttrFloats returns a FLOATS attribute.
func AttrFloats(name string, v ...float32) *AttributeProto {
	return &AttributeProto{Name: name, Type: AttributeProto_FLOATS, Floats: append([]float32{}, v...)}
}

// AttrString returns a STRING attribute.
func AttrString(name, v string) *AttributeProto {
	return &AttributeProto{Name: name, Type: AttributeProto_STRING, S: []byte(v)}
}

// NewModel wraps g in a model of IR version 8 importing the default-domain
// operator set opset, with the given producer and metadata_props (sorted by
// key so output is deterministic).
func NewModel(g *GraphProto, opset int64, producer, producerVersion string, metadata map[string]string) *ModelProto {
	m := &ModelProto{
		IrVersion:       IRVersion,
		OpsetImport:     []*OperatorSetIdProto{{Domain: "", Version: opset}},
		ProducerName:    producer,
		ProducerVersion: producerVersion,
		Graph:           g,
	}
	SetMetadata(m, metadata)
	return m
}

// SetMetadata replaces m's metadata_props with metadata, sorted by key.
func SetMetadata(m *ModelProto, metadata map[string]string) {
	keys := make([]string, 0, len(metadata))
	for k := range metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	m.MetadataProps = nil
	for _, k := range keys {
		m.MetadataProps = append(m.MetadataProps, &StringStringEntryProto{Key: k, Value: metadata[k]})
	}
}

// Metadata returns a model's metadata_props as a map (nil-safe; later
// duplicates win).
func Metadata(m *ModelProto) map[string]string {
	out := map[string]string{}
	for _, p := range m.GetMetadataProps() {
		out[p.GetKey()] = p.GetValue()
	}
	return out
}

// Marshal serializes a model deterministically.
func Marshal(m *ModelProto) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("marshal onnx model: %w", err)
	}
	return b, nil
}

// Unmarshal parses a serialized model and checks that it looks like one: a
// positive IR version and a graph.
func Unmarshal(b []byte) (*ModelProto, error) {
	if len(b) == 0 {
		return nil, errors.New("not an ONNX model: empty data")
	}
	m := &ModelProto{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("not an ONNX model (protobuf parse failed): %w", err)
	}
	if m.GetIrVersion() <= 0 {
		return nil, fmt.Errorf("not an ONNX model: ir_version is %d, want > 0", m.GetIrVersion())
	}
	if m.GetGraph() == nil {
		return nil, errors.New("not an ONNX model: no graph")
	}
	return m, nil
}

// WriteFile writes m to path atomically (temporary file + rename).
func WriteFile(path string, m *ModelProto) error {
	b, err := Marshal(m)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return fsutil.WriteFileAtomic(path, b, 0o644)
}

// ReadFile reads and parses an .onnx file.
func ReadFile(path string) (*ModelProto, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read onnx model %s: file does not exist", path)
		}
		return nil, fmt.Errorf("read onnx model %s: %w", path, err)
	}
	m, err := Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("read onnx model %s: %w", path, err)
	}
	return m, nil
}
