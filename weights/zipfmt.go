package weights

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
)

// Limits on what a zip checkpoint may claim. Deflate cannot compress better
// than about 1032:1, and a state-dict pickle of 256 MiB would describe
// millions of tensors.
const (
	maxPickleBytes   = 256 << 20
	maxDeflateRatio  = 1040
	maxStorageLength = 1 << 34 // bytes of one storage record (16 GiB)
)

// loadZip reads a checkpoint in PyTorch's zip serialization format
// (torch ≥ 1.6): "<name>/data.pkl" with storages as persistent ids
// ("storage", class, key, location, numel) and each storage's raw
// little-endian bytes in "<name>/data/<key>". Every record's declared size
// is checked against the archive and against the element count the pickle
// declares before it is read.
func loadZip(ra io.ReaderAt, archiveSize int64) (interface{}, error) {
	zr, err := zip.NewReader(ra, archiveSize)
	if err != nil {
		return nil, err
	}
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
			if b, err := readRecord(f, archiveSize, 64); err == nil && strings.TrimSpace(string(b)) != "little" {
				return nil, fmt.Errorf("byte order %q is not supported", clipText(string(b)))
			}
		}
	}
	if pkl == nil {
		return nil, errors.New("no data.pkl record")
	}
	data, err := readRecord(pkl, archiveSize, maxPickleBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pkl.Name, err)
	}
	n, err := scanPickle(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pkl.Name, err)
	}
	storages := map[string]pytorch.StorageInterface{}
	u := pickle.NewUnpickler(bytes.NewReader(data[:n]))
	u.FindClass = findTorchClass
	u.PersistentLoad = func(id interface{}) (interface{}, error) {
		t, ok := id.(*types.Tuple)
		if !ok || t.Len() < 5 || t.Get(0) != "storage" {
			return nil, fmt.Errorf("persistent id %s: want (\"storage\", class, key, location, size)", clipText(fmt.Sprint(id)))
		}
		class, ok1 := t.Get(1).(pytorch.StorageClassInterface)
		key, ok2 := t.Get(2).(string)
		location, ok3 := t.Get(3).(string)
		size, ok4 := t.Get(4).(int)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return nil, fmt.Errorf("persistent id %s: unexpected field types", clipText(fmt.Sprint(t)))
		}
		if s, ok := storages[key]; ok {
			return s, nil
		}
		f, ok := records[key]
		if !ok {
			return nil, fmt.Errorf("storage record data/%s missing", clipText(key))
		}
		s := class.New(size, location)
		elem := elemSize(s)
		if elem == 0 {
			return nil, fmt.Errorf("storage %s: unsupported type %T", key, s)
		}
		if size < 0 || uint64(size) > maxStorageLength/uint64(elem) {
			return nil, fmt.Errorf("storage %s: implausible element count %d", key, size)
		}
		if want := uint64(size) * uint64(elem); f.UncompressedSize64 != want {
			return nil, fmt.Errorf("storage %s: record of %d bytes, want %d elements of %d bytes", key, f.UncompressedSize64, size, elem)
		}
		b, err := readRecord(f, archiveSize, maxStorageLength)
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
		return nil, fmt.Errorf("%s: %w", pkl.Name, err)
	}
	return obj, nil
}

// readRecord reads one zip entry after checking its declared size against
// limit, the archive size and the compression ratio; memory grows only with
// the bytes actually decompressed, and a record longer than declared is an
// error.
func readRecord(f *zip.File, archive int64, limit uint64) ([]byte, error) {
	n := f.UncompressedSize64
	if n > limit {
		return nil, fmt.Errorf("record %s claims %d bytes (at most %d)", f.Name, n, limit)
	}
	switch f.Method {
	case zip.Store:
		if n != f.CompressedSize64 || n > uint64(archive) {
			return nil, fmt.Errorf("record %s claims %d bytes, stored in %d of an archive of %d", f.Name, n, f.CompressedSize64, archive)
		}
	default:
		if f.CompressedSize64 > uint64(archive) || n > maxDeflateRatio*(f.CompressedSize64+1) {
			return nil, fmt.Errorf("record %s claims %d bytes from %d compressed bytes", f.Name, n, f.CompressedSize64)
		}
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	if n <= 1<<20 {
		buf.Grow(int(n))
	}
	got, err := io.Copy(&buf, io.LimitReader(rc, int64(n)+1))
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", f.Name, err)
	}
	if uint64(got) != n {
		return nil, fmt.Errorf("record %s: %d bytes, header says %d", f.Name, got, n)
	}
	return buf.Bytes(), nil
}

// clipText quotes text from a file for an error line: control characters
// escaped, at most 80 bytes.
func clipText(s string) string {
	if len(s) > 80 {
		s = s[:80]
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// lineError keeps an error to one line: a message quoting file contents (a
// tensor name, gopickle's description of a value) may hold newlines.
type lineError struct{ err error }

func (e lineError) Error() string {
	s := strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(e.err.Error())
	if len(s) > 600 {
		s = s[:600] + "…"
	}
	return s
}
func (e lineError) Unwrap() error { return e.err }

func oneLine(err error) error {
	if err == nil {
		return nil
	}
	return lineError{err}
}
