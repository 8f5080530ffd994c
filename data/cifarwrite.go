package data

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sgnas/sgnas/internal/fsutil"
)

// RawDataset is a dataset whose samples are available as bytes (3×32×32, CHW) for
// writing in CIFAR binary format; *CIFAR and *Synthetic (at size 32) implement it.
type RawDataset interface {
	Len() int
	Raw(i int) ([]byte, int)
}

// WriteCIFAR10 writes train as data_batch_1..5.bin (split into five nearly equal
// parts) and test as test_batch.bin in dir (created if missing), in the CIFAR-10
// binary format, so OpenCIFAR10(dir, ...) reads them back. Labels must be in [0,10).
func WriteCIFAR10(dir string, train, test RawDataset) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write cifar10: %w", err)
	}
	n := train.Len()
	for k, name := range CIFAR10TrainFiles {
		lo, hi := k*n/len(CIFAR10TrainFiles), (k+1)*n/len(CIFAR10TrainFiles)
		if err := writeCIFARFile(filepath.Join(dir, name), train, lo, hi, 10, false); err != nil {
			return err
		}
	}
	return writeCIFARFile(filepath.Join(dir, CIFAR10TestFile), test, 0, test.Len(), 10, false)
}

// WriteCIFAR100 writes train as train.bin and test as test.bin in dir in the
// CIFAR-100 binary format (coarse label written as fine/5). Labels must be in [0,100).
func WriteCIFAR100(dir string, train, test RawDataset) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write cifar100: %w", err)
	}
	if err := writeCIFARFile(filepath.Join(dir, CIFAR100TrainFile), train, 0, train.Len(), 100, true); err != nil {
		return err
	}
	return writeCIFARFile(filepath.Join(dir, CIFAR100TestFile), test, 0, test.Len(), 100, true)
}

func writeCIFARFile(path string, ds RawDataset, lo, hi, classes int, coarse bool) error {
	if hi <= lo {
		return fmt.Errorf("write %s: no samples for this file", path)
	}
	err := fsutil.WriteAtomic(path, 0o644, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		for i := lo; i < hi; i++ {
			img, label := ds.Raw(i)
			if len(img) != cifarPixels {
				return fmt.Errorf("sample %d has %d bytes, want %d (3x32x32)", i, len(img), cifarPixels)
			}
			if label < 0 || label >= classes {
				return fmt.Errorf("sample %d: label %d out of range [0,%d)", i, label, classes)
			}
			if coarse {
				bw.WriteByte(byte(label / 5))
			}
			bw.WriteByte(byte(label))
			bw.Write(img)
		}
		return bw.Flush()
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
