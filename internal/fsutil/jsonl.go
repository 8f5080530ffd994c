package fsutil

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// WriteJSONLines writes items as JSON lines (one object a line) to path
// atomically, e.g. the per-epoch log.jsonl of a training run.
func WriteJSONLines[T any](path string, items []T) error {
	var b bytes.Buffer
	for _, it := range items {
		line, err := json.Marshal(it)
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return WriteFileAtomic(path, b.Bytes(), 0o644)
}
