package onnx

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

// FuzzUnmarshal: reading model bytes never panics; an accepted model
// re-marshals to bytes that read back to an equal model, and decoding its
// float initializers either works or gives an error naming the tensor.
func FuzzUnmarshal(f *testing.F) {
	m := tinyCNN()
	b, err := Marshal(m)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	bad := proto.Clone(m).(*ModelProto)
	bad.Graph.Initializer[0].Dims = []int64{1 << 40, 1 << 40}
	if b, err := Marshal(bad); err == nil {
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte("\x08\x08"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Unmarshal(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		for _, init := range m.GetGraph().GetInitializer() {
			if init.GetDataType() != int32(TensorProto_FLOAT) {
				continue
			}
			v, err := FloatData(init)
			if err != nil {
				if !strings.Contains(err.Error(), "tensor") {
					t.Fatalf("error does not name the tensor: %v", err)
				}
				continue
			}
			n, _ := CheckedElements(init.GetDims())
			if int64(len(v)) != n {
				t.Fatalf("%d values for dims %v", len(v), init.GetDims())
			}
		}
		Metadata(m)
		b, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("re-marshalled model does not read back: %v", err)
		}
		if !proto.Equal(m, back) {
			t.Fatal("round trip changed the model")
		}
	})
}

func TestFloatDataHostileDims(t *testing.T) {
	for _, dims := range [][]int64{{-1, 4}, {1 << 40, 1 << 40}, {1 << 62, 4}} {
		tp := &TensorProto{Name: "w", Dims: dims, DataType: int32(TensorProto_FLOAT), RawData: make([]byte, 16)}
		if _, err := FloatData(tp); err == nil || !strings.Contains(err.Error(), `tensor "w"`) {
			t.Errorf("dims %v: %v", dims, err)
		}
	}
}
