package evaluate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"time"

	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/internal/fsutil"
)

// ManifestName is the manifest file sgnas-export writes beside its models.
const ManifestName = "manifest.json"

// ManifestLockWait bounds how long RecordInManifest waits for that lock.
var ManifestLockWait = 30 * time.Second

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Record is what RecordInManifest did.
type Record struct {
	Manifest string // the file rewritten ("" when none was found)
	Updated  bool
	// Note says why nothing was recorded when a manifest exists
	// (no entry for the model, or the model's sha256 differs).
	Note string
}

// RecordInManifest records ev in the manifest.json beside model when it has
// an entry for the model's file with the model's sha256: the entry's
// evaluation for the same dataset, directory and split is replaced, or one
// is added. The manifest (through its link, for an sgnas-export output
// folder) is rewritten atomically; everything else in it is kept. No
// manifest is not an error (Record.Manifest is "").
func RecordInManifest(model string, ev export.Evaluation) (*Record, error) {
	path := filepath.Join(filepath.Dir(model), ManifestName)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return &Record{}, nil
	}
	// sgnas-export's lock of the output folder (beside the model, or two
	// levels up for a model inside runs/<id>/) serialises this rewrite with
	// export runs and other evaluations.
	dir := filepath.Dir(model)
	lockDir := dir
	if filepath.Base(filepath.Dir(dir)) == "runs" {
		lockDir = filepath.Dir(filepath.Dir(dir))
	}
	if lp := filepath.Join(lockDir, export.OutputLockName); fileExists(lp) {
		l, err := fsutil.LockFile(lp, ManifestLockWait)
		if err != nil {
			return nil, fmt.Errorf("manifest %s: an sgnas-export run (or another evaluation) is writing into %s (%v): result not recorded", path, lockDir, err)
		}
		defer l.Close()
	}
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Record{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	rec := &Record{Manifest: path}
	var m export.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	sum, err := export.FileSHA256(model)
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	base := filepath.Base(model)
	k := -1
	for i, e := range m.Models {
		if e.File == base {
			k = i
		}
	}
	switch {
	case k < 0:
		rec.Note = fmt.Sprintf("%s has no entry for %s: not recorded", path, base)
		return rec, nil
	case m.Models[k].SHA256 != sum:
		rec.Note = fmt.Sprintf("%s: the entry for %s has another sha256 (the file changed since it was exported): not recorded", path, base)
		return rec, nil
	}
	e := &m.Models[k]
	replaced := false
	for i, old := range e.Evaluations {
		if old.Dataset == ev.Dataset && old.Data == ev.Data && old.Split == ev.Split {
			e.Evaluations[i], replaced = ev, true
		}
	}
	if !replaced {
		e.Evaluations = append(e.Evaluations, ev)
	}
	out, err := rewrite(raw, &m, k)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if err := fsutil.WriteFileAtomic(target, out, 0o644); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	rec.Updated = true
	return rec, nil
}

// rewrite returns the new manifest text. It is the typed manifest (the
// project's field order) when that holds everything the file held;
// otherwise (fields this sgnas does not know) the file's JSON with only
// entry k's "evaluations" replaced, so nothing is lost either way.
func rewrite(raw []byte, m *export.Manifest, k int) ([]byte, error) {
	typed, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	var before, after map[string]any
	if err := json.Unmarshal(raw, &before); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(typed, &after); err != nil {
		return nil, err
	}
	dropEvaluations(before)
	dropEvaluations(after)
	if reflect.DeepEqual(before, after) {
		return append(typed, '\n'), nil
	}
	var generic map[string]json.RawMessage
	if err := json.Unmarshal(raw, &generic); err != nil {
		return nil, err
	}
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal(generic["models"], &entries); err != nil {
		return nil, err
	}
	evs, err := json.Marshal(m.Models[k].Evaluations)
	if err != nil {
		return nil, err
	}
	entries[k]["evaluations"] = evs
	if generic["models"], err = json.Marshal(entries); err != nil {
		return nil, err
	}
	flat, err := json.Marshal(generic)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, flat, "", "  "); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// dropEvaluations removes the "evaluations" of every model entry of a
// decoded manifest.
func dropEvaluations(m map[string]any) {
	models, _ := m["models"].([]any)
	for _, e := range models {
		if em, ok := e.(map[string]any); ok {
			delete(em, "evaluations")
		}
	}
}
