package weights

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// LoadFile reads a state dict from a PyTorch checkpoint (.pth, zip or
// legacy format; see LoadPTHWith with default options) or a safetensors
// file (LoadSafetensors). The format is detected from the file's first
// bytes, not from its name.
func LoadFile(path string) (*Checkpoint, error) {
	format, err := DetectFormat(path)
	if err != nil {
		return nil, err
	}
	if format == FormatSafetensors {
		return LoadSafetensors(path)
	}
	return LoadPTHWith(path, LoadOptions{})
}

// DetectFormat returns FormatPTH or FormatSafetensors for the file at path
// from its first bytes, or an error naming the file when it is neither.
func DetectFormat(path string) (string, error) {
	f, _, err := openRegular(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 9)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return "", fmt.Errorf("load %s: %w", path, err)
	}
	head = head[:n]
	// safetensors first: its header length may start with 0x80, a legacy
	// pickle's first byte, while neither a zip nor a pickle passes
	// IsSafetensors (their first 8 bytes read as a huge length).
	switch {
	case IsSafetensors(head):
		return FormatSafetensors, nil
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), len(head) >= 2 && head[0] == 0x80:
		return FormatPTH, nil
	case n == 0:
		return "", fmt.Errorf("load %s: empty file, neither a PyTorch checkpoint nor a safetensors file", path)
	}
	return "", fmt.Errorf("load %s: neither a PyTorch checkpoint (zip or legacy pickle) nor a safetensors file (starts with %q)", path, head)
}

// openRegular opens path for reading, refusing anything but a regular file
// (a FIFO or device would make size checks meaningless).
func openRegular(path string) (*os.File, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("load %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("load %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("load %s: not a regular file", path)
	}
	return f, st, nil
}
