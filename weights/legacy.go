package weights

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"

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
func loadLegacy(data []byte) (interface{}, error) {
	r := &pickleStream{data: data}
	magic, err := r.next()
	if err != nil {
		return nil, fmt.Errorf("magic number: %w", err)
	}
	if n, ok := magic.(*big.Int); !ok || n.Text(16) != "1950a86a20f9469cfc6c" {
		return nil, errors.New("invalid PyTorch magic number")
	}
	proto, err := r.next()
	if err != nil {
		return nil, fmt.Errorf("protocol version: %w", err)
	}
	if n, ok := proto.(int); !ok || n != 1001 {
		return nil, fmt.Errorf("unsupported protocol version %s", clipText(fmt.Sprint(proto)))
	}
	sysInfo, err := r.next()
	if err != nil {
		return nil, fmt.Errorf("sys info: %w", err)
	}
	if d, ok := sysInfo.(*types.Dict); ok {
		if le, ok := d.Get("little_endian"); ok && le == false {
			return nil, errors.New("sys info: saved on a big-endian machine, which is not supported")
		}
	}
	type declared struct {
		s    pytorch.StorageInterface
		size int
	}
	storages := map[string]declared{}
	obj, err := r.nextWith(func(u *pickle.Unpickler) {
		u.PersistentLoad = func(id interface{}) (interface{}, error) {
			t, ok := id.(*types.Tuple)
			if !ok || t.Len() == 0 {
				return nil, fmt.Errorf("persistent id %s: want a tuple", clipText(fmt.Sprint(id)))
			}
			switch t.Get(0) {
			case "module":
				if t.Len() < 2 {
					return nil, errors.New("persistent id: short module tuple")
				}
				return t.Get(1), nil
			case "storage":
			default:
				return nil, fmt.Errorf("persistent id type %s", clipText(fmt.Sprint(t.Get(0))))
			}
			if t.Len() < 6 {
				return nil, errors.New("persistent id: short storage tuple")
			}
			class, ok1 := t.Get(1).(pytorch.StorageClassInterface)
			key, ok2 := t.Get(2).(string)
			location, ok3 := t.Get(3).(string)
			size, ok4 := t.Get(4).(int)
			if !ok1 || !ok2 || !ok3 || !ok4 {
				return nil, fmt.Errorf("persistent id %s: unexpected field types", clipText(fmt.Sprint(t)))
			}
			if t.Get(5) != nil {
				return nil, errors.New("storage views are not supported")
			}
			if d, ok := storages[key]; ok {
				if d.size != size {
					return nil, fmt.Errorf("storage %s declared with %d and %d elements", clipText(key), d.size, size)
				}
				return d.s, nil
			}
			s := class.New(size, location)
			elem := elemSize(s)
			if elem == 0 {
				return nil, fmt.Errorf("storage %s: unsupported type %T", clipText(key), s)
			}
			// Every storage's bytes follow in the file: its size is bounded
			// by the file's length before anything is allocated.
			if size < 0 || int64(size) > int64(len(data))/int64(elem) {
				return nil, fmt.Errorf("storage %s claims %d elements of %d bytes; the file has %d bytes", clipText(key), size, elem, len(data))
			}
			storages[key] = declared{s, size}
			return s, nil
		}
	})
	if err != nil {
		return nil, fmt.Errorf("object pickle: %w", err)
	}
	rawKeys, err := r.next()
	if err != nil {
		return nil, fmt.Errorf("storage keys: %w", err)
	}
	keys, ok := rawKeys.(*types.List)
	if !ok {
		return nil, fmt.Errorf("storage keys: want a list, got %T", rawKeys)
	}
	read := map[string]bool{}
	rest := bytes.NewReader(data[r.pos:])
	for _, k := range *keys {
		key, _ := k.(string)
		d, ok := storages[key]
		if !ok {
			return nil, fmt.Errorf("storage %s listed but never referenced", clipText(fmt.Sprint(k)))
		}
		if read[key] {
			return nil, fmt.Errorf("storage %s listed twice", clipText(key))
		}
		read[key] = true
		if err := readStorage(rest, d.s, d.size); err != nil {
			return nil, fmt.Errorf("storage %s: %w", clipText(key), err)
		}
	}
	for key := range storages {
		if !read[key] {
			return nil, fmt.Errorf("storage %s referenced by a tensor but missing from the storage list", clipText(key))
		}
	}
	if n := rest.Len(); n != 0 {
		return nil, fmt.Errorf("%d unexpected bytes after the last storage", n)
	}
	return obj, nil
}

// pickleStream decodes the consecutive pickles of a legacy checkpoint, each
// checked by scanPickle before gopickle sees exactly its bytes.
type pickleStream struct {
	data []byte
	pos  int
}

func (p *pickleStream) next() (interface{}, error) { return p.nextWith(nil) }

func (p *pickleStream) nextWith(setup func(*pickle.Unpickler)) (interface{}, error) {
	n, err := scanPickle(p.data[p.pos:])
	if err != nil {
		return nil, err
	}
	u := pickle.NewUnpickler(bytes.NewReader(p.data[p.pos : p.pos+n]))
	u.FindClass = findTorchClass
	if setup != nil {
		setup(&u)
	}
	obj, err := u.Load()
	if err != nil {
		return nil, err
	}
	p.pos += n
	return obj, nil
}

// readStorage reads a uint64 element count, which must equal the count the
// pickle declared, and the elements into s.
func readStorage(r *bytes.Reader, s pytorch.StorageInterface, declared int) error {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return fmt.Errorf("element count: %w", err)
	}
	n := binary.LittleEndian.Uint64(hdr[:])
	elem := elemSize(s)
	if elem == 0 {
		return fmt.Errorf("unsupported storage type %T", s)
	}
	if n != uint64(declared) {
		return fmt.Errorf("%d elements in the file, the pickle declares %d (corrupt checkpoint)", n, declared)
	}
	if n > uint64(r.Len())/uint64(elem) {
		return fmt.Errorf("%d elements of %d bytes but only %d bytes left in the file", n, elem, r.Len())
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

// findTorchClass resolves the globals a state-dict pickle may name; anything
// outside allowedGlobals is refused (scanPickle has refused it already; this is
// the second line of defence).
func findTorchClass(module, name string) (interface{}, error) {
	switch module + "." + name {
	case "torch._utils._rebuild_tensor_v2":
		return &pytorch.RebuildTensorV2{}, nil
	case "torch._utils._rebuild_tensor":
		return rebuildTensor{}, nil
	case "torch._utils._rebuild_parameter":
		return rebuildParameter{}, nil
	case "collections.OrderedDict":
		return &types.OrderedDictClass{}, nil
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
	return nil, refuseGlobal(module, name)
}

// rebuildTensor is torch._utils._rebuild_tensor(storage, offset, size, stride).
type rebuildTensor struct{}

func (rebuildTensor) Call(args ...interface{}) (interface{}, error) {
	if len(args) != 4 {
		return nil, fmt.Errorf("_rebuild_tensor: %d arguments, want 4", len(args))
	}
	return (&pytorch.RebuildTensorV2{}).Call(args[0], args[1], args[2], args[3], false, nil)
}

// rebuildParameter is torch._utils._rebuild_parameter(data, requires_grad,
// backward_hooks): an nn.Parameter is its tensor.
type rebuildParameter struct{}

func (rebuildParameter) Call(args ...interface{}) (interface{}, error) {
	if len(args) < 1 {
		return nil, errors.New("_rebuild_parameter: no arguments")
	}
	t, ok := args[0].(*pytorch.Tensor)
	if !ok {
		return nil, fmt.Errorf("_rebuild_parameter: %T, want a tensor", args[0])
	}
	return t, nil
}
