package weights

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
)

// loadLegacy reads a checkpoint in PyTorch's legacy (pre-1.6, non-zip)
// serialization format. gopickle's own legacy reader ignores short reads, so
// a truncated file silently yields garbage; this one reads every storage with
// io.ReadFull and checks its length.
//
// Layout: pickle(magic) pickle(protocol 1001) pickle(sys info) pickle(object,
// storages as persistent ids) pickle(storage keys), then per key: uint64 LE
// element count followed by the raw little-endian elements.
func loadLegacy(path string) (interface{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := bytes.NewReader(data)
	magic, err := unpickleOne(r)
	if err != nil {
		return nil, fmt.Errorf("magic number: %w", err)
	}
	if n, ok := magic.(*big.Int); !ok || n.Text(16) != "1950a86a20f9469cfc6c" {
		return nil, errors.New("invalid PyTorch magic number")
	}
	proto, err := unpickleOne(r)
	if err != nil {
		return nil, fmt.Errorf("protocol version: %w", err)
	}
	if n, ok := proto.(int); !ok || n != 1001 {
		return nil, fmt.Errorf("unsupported protocol version %v", proto)
	}
	if _, err := unpickleOne(r); err != nil {
		return nil, fmt.Errorf("sys info: %w", err)
	}
	storages := map[string]pytorch.StorageInterface{}
	u := pickle.NewUnpickler(r)
	u.FindClass = findTorchClass
	u.PersistentLoad = func(id interface{}) (interface{}, error) {
		t, ok := id.(*types.Tuple)
		if !ok || t.Len() == 0 {
			return nil, fmt.Errorf("persistent id %#v: want a tuple", id)
		}
		switch t.Get(0) {
		case "module":
			if t.Len() < 2 {
				return nil, errors.New("persistent id: short module tuple")
			}
			return t.Get(1), nil
		case "storage":
		default:
			return nil, fmt.Errorf("persistent id type %v", t.Get(0))
		}
		if t.Len() < 6 {
			return nil, errors.New("persistent id: short storage tuple")
		}
		class, ok1 := t.Get(1).(pytorch.StorageClassInterface)
		key, ok2 := t.Get(2).(string)
		location, ok3 := t.Get(3).(string)
		size, ok4 := t.Get(4).(int)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return nil, fmt.Errorf("persistent id %v: unexpected field types", t)
		}
		if t.Get(5) != nil {
			return nil, errors.New("storage views are not supported")
		}
		s, ok := storages[key]
		if !ok {
			s = class.New(size, location)
			storages[key] = s
		}
		return s, nil
	}
	obj, err := u.Load()
	if err != nil {
		return nil, fmt.Errorf("object pickle: %w", err)
	}
	rawKeys, err := unpickleOne(r)
	if err != nil {
		return nil, fmt.Errorf("storage keys: %w", err)
	}
	keys, ok := rawKeys.(*types.List)
	if !ok {
		return nil, fmt.Errorf("storage keys: want a list, got %T", rawKeys)
	}
	for _, k := range *keys {
		key, _ := k.(string)
		s, ok := storages[key]
		if !ok {
			return nil, fmt.Errorf("storage %v listed but never referenced", k)
		}
		if err := readStorage(r, s); err != nil {
			return nil, fmt.Errorf("storage %s: %w", key, err)
		}
	}
	return obj, nil
}

func unpickleOne(r io.Reader) (interface{}, error) {
	u := pickle.NewUnpickler(r)
	return u.Load()
}

// readStorage reads a uint64 element count and the elements into s.
func readStorage(r io.Reader, s pytorch.StorageInterface) error {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return fmt.Errorf("element count: %w", err)
	}
	n := binary.LittleEndian.Uint64(hdr[:])
	elem := elemSize(s)
	if elem == 0 {
		return fmt.Errorf("unsupported storage type %T", s)
	}
	if n > uint64(math.MaxInt32) {
		return fmt.Errorf("element count %d too large", n)
	}
	b := make([]byte, int(n)*elem)
	if _, err := io.ReadFull(r, b); err != nil {
		return fmt.Errorf("%d elements of %d bytes: %w", n, elem, err)
	}
	decodeStorage(s, b, int(n))
	return nil
}

// elemSize is the byte size of one element of a storage.
func elemSize(s pytorch.StorageInterface) int {
	switch s.(type) {
	case *pytorch.CharStorage, *pytorch.ByteStorage, *pytorch.BoolStorage:
		return 1
	case *pytorch.HalfStorage, *pytorch.BFloat16Storage, *pytorch.ShortStorage:
		return 2
	case *pytorch.FloatStorage, *pytorch.IntStorage:
		return 4
	case *pytorch.DoubleStorage, *pytorch.LongStorage:
		return 8
	}
	return 0
}

// decodeStorage fills s with n little-endian elements from b.
func decodeStorage(s pytorch.StorageInterface, b []byte, n int) {
	le := binary.LittleEndian
	switch st := s.(type) {
	case *pytorch.FloatStorage:
		st.Data = make([]float32, n)
		for i := range st.Data {
			st.Data[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
	case *pytorch.DoubleStorage:
		st.Data = make([]float64, n)
		for i := range st.Data {
			st.Data[i] = math.Float64frombits(le.Uint64(b[8*i:]))
		}
	case *pytorch.HalfStorage:
		st.Data = make([]float32, n)
		for i := range st.Data {
			st.Data[i] = math.Float32frombits(pytorch.FloatBits16to32(le.Uint16(b[2*i:])))
		}
	case *pytorch.BFloat16Storage:
		st.Data = make([]float32, n)
		for i := range st.Data {
			st.Data[i] = math.Float32frombits(uint32(le.Uint16(b[2*i:])) << 16)
		}
	case *pytorch.LongStorage:
		st.Data = make([]int64, n)
		for i := range st.Data {
			st.Data[i] = int64(le.Uint64(b[8*i:]))
		}
	case *pytorch.IntStorage:
		st.Data = make([]int32, n)
		for i := range st.Data {
			st.Data[i] = int32(le.Uint32(b[4*i:]))
		}
	case *pytorch.ShortStorage:
		st.Data = make([]int16, n)
		for i := range st.Data {
			st.Data[i] = int16(le.Uint16(b[2*i:]))
		}
	case *pytorch.CharStorage:
		st.Data = make([]int8, n)
		for i := range st.Data {
			st.Data[i] = int8(b[i])
		}
	case *pytorch.ByteStorage:
		st.Data = append([]uint8(nil), b...)
	case *pytorch.BoolStorage:
		st.Data = make([]bool, n)
		for i := range st.Data {
			st.Data[i] = b[i] != 0
		}
	}
}

// findTorchClass resolves the classes a legacy state-dict pickle refers to.
func findTorchClass(module, name string) (interface{}, error) {
	switch module + "." + name {
	case "torch._utils._rebuild_tensor_v2":
		return &pytorch.RebuildTensorV2{}, nil
	case "torch.FloatStorage":
		return &pytorch.FloatStorageClass{}, nil
	case "torch.HalfStorage":
		return &pytorch.HalfStorageClass{}, nil
	case "torch.DoubleStorage":
		return &pytorch.DoubleStorageClass{}, nil
	case "torch.CharStorage":
		return &pytorch.CharStorageClass{}, nil
	case "torch.ShortStorage":
		return &pytorch.ShortStorageClass{}, nil
	case "torch.IntStorage":
		return &pytorch.IntStorageClass{}, nil
	case "torch.LongStorage":
		return &pytorch.LongStorageClass{}, nil
	case "torch.ByteStorage":
		return &pytorch.ByteStorageClass{}, nil
	case "torch.BoolStorage":
		return &pytorch.BoolStorageClass{}, nil
	case "torch.BFloat16Storage":
		return &pytorch.BFloat16StorageClass{}, nil
	}
	return types.NewGenericClass(module, name), nil
}
