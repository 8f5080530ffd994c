package weights

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
)

// loadZip reads a checkpoint in PyTorch's zip serialization format
// (torch ≥ 1.6): "<name>/data.pkl" with storages as persistent ids
// ("storage", class, key, location, numel) and each storage's raw
// little-endian bytes in "<name>/data/<key>". Every record's length is checked
// against the element count the pickle declares.
func loadZip(p string) (interface{}, error) {
	zr, err := zip.OpenReader(p)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	var pkl *zip.File
	records := map[string]*zip.File{}
	for _, f := range zr.File {
		dir, base := path.Split(f.Name)
		switch {
		case base == "data.pkl" && strings.Count(f.Name, "/") == 1:
			pkl = f
		case strings.HasSuffix(dir, "/data/"):
			records[base] = f
		case base == "constants.pkl":
			return nil, errors.New("TorchScript archives are not supported; save a state dict with torch.save")
		case base == "byteorder":
			if b, err := readRecord(f); err == nil && strings.TrimSpace(string(b)) != "little" {
				return nil, fmt.Errorf("byte order %q is not supported", b)
			}
		}
	}
	if pkl == nil {
		return nil, errors.New("no data.pkl record")
	}
	rc, err := pkl.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	storages := map[string]pytorch.StorageInterface{}
	u := pickle.NewUnpickler(rc)
	u.FindClass = findTorchClass
	u.PersistentLoad = func(id interface{}) (interface{}, error) {
		t, ok := id.(*types.Tuple)
		if !ok || t.Len() < 5 || t.Get(0) != "storage" {
			return nil, fmt.Errorf("persistent id %#v: want (\"storage\", class, key, location, size)", id)
		}
		class, ok1 := t.Get(1).(pytorch.StorageClassInterface)
		key, ok2 := t.Get(2).(string)
		location, ok3 := t.Get(3).(string)
		size, ok4 := t.Get(4).(int)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return nil, fmt.Errorf("persistent id %v: unexpected field types", t)
		}
		if s, ok := storages[key]; ok {
			return s, nil
		}
		f, ok := records[key]
		if !ok {
			return nil, fmt.Errorf("storage record data/%s missing", key)
		}
		s := class.New(size, location)
		elem := elemSize(s)
		if elem == 0 {
			return nil, fmt.Errorf("storage %s: unsupported type %T", key, s)
		}
		b, err := readRecord(f)
		if err != nil {
			return nil, fmt.Errorf("storage %s: %w", key, err)
		}
		if len(b) != size*elem {
			return nil, fmt.Errorf("storage %s: %d bytes, want %d elements of %d bytes", key, len(b), size, elem)
		}
		decodeStorage(s, b, size)
		storages[key] = s
		return s, nil
	}
	obj, err := u.Load()
	if err != nil {
		return nil, fmt.Errorf("data.pkl: %w", err)
	}
	return obj, nil
}

func readRecord(f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
