package pipeline

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sgnas/sgnas/export"
)

// Layout of an output folder written by Run (sgnas-export --out DIR):
//
//	DIR/manifest.json      -> current/manifest.json
//	DIR/<model>.onnx       -> current/<model>.onnx   (one link per model)
//	DIR/current            -> runs/<id>              (the last complete run)
//	DIR/runs/<id>/         the models and manifest.json of one run
//	DIR/.sgnas-export.lock held by the run in progress
//
// A run writes into a staging folder DIR/.sgnas-export-*, renames it to
// runs/<id> when every model is written (and checked and timed), then swaps
// the current link in one rename. Readers therefore see either the previous
// run's models and manifest or the new run's, never a mix at rest; a failed
// or killed run leaves the previous state untouched. The run before the
// current one is kept (readers still using it are not cut off); older runs,
// staging folders of killed runs and links of models no longer in the
// manifest are removed. A reader that must not race a run in progress
// resolves current once (realpath DIR/current) and reads from there.
const (
	lockName     = export.OutputLockName
	stagePrefix  = ".sgnas-export-"
	currentName  = "current"
	runsName     = "runs"
	manifestName = "manifest.json"
)

// runID matches the folder names publish gives runs; nothing else in runs/
// is ever removed.
var runID = regexp.MustCompile(`^[0-9]{8}-[0-9]{6}-[0-9a-f]{8}$`)

// failpoint is called between the steps of publishing (tests make it fail).
var failpoint = func(step string) error { return nil }

// outDir is an output folder locked by this process.
type outDir struct {
	dir  string
	lock *os.File
}

// openOut creates dir if needed, takes its lock (refusing when another run
// holds it) and removes what killed runs left behind.
func openOut(dir string) (*outDir, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--out: %w", err)
	}
	lp := filepath.Join(dir, lockName)
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("--out: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			who := "another sgnas-export run"
			if b, _ := os.ReadFile(lp); len(b) > 0 {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					who = fmt.Sprintf("another sgnas-export run (pid %d)", pid)
				}
			}
			return nil, fmt.Errorf("--out %s: %s is writing into it (lock %s); wait for it to finish or choose another --out", dir, who, lp)
		}
		return nil, fmt.Errorf("--out: lock %s: %w", lp, err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	o := &outDir{dir: dir, lock: f}
	if err := o.cleanStale(); err != nil {
		o.close()
		return nil, err
	}
	return o, nil
}

// close releases the lock (the lock file stays: removing it would let two
// runs lock different files).
func (o *outDir) close() {
	if o.lock != nil {
		o.lock.Close()
		o.lock = nil
	}
}

// cleanStale removes the staging folders and temporary links of killed
// runs. Holding the lock, no other live run can be using them.
func (o *outDir) cleanStale() error {
	ents, err := os.ReadDir(o.dir)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), stagePrefix) {
			if err := os.RemoveAll(filepath.Join(o.dir, e.Name())); err != nil {
				return fmt.Errorf("--out: remove stale %s: %w", e.Name(), err)
			}
		}
	}
	return nil
}

// stage returns a new staging folder inside the output folder.
func (o *outDir) stage() (string, error) {
	s, err := os.MkdirTemp(o.dir, stagePrefix)
	if err != nil {
		return "", fmt.Errorf("--out: %w", err)
	}
	return s, nil
}

// publish makes the complete staging folder (holding names, manifest.json
// among them) the current run, as described at the top of this file.
func (o *outDir) publish(stage string, names []string) error {
	// Nothing may be in the way of a link (a folder, say): check first.
	for _, n := range append([]string{currentName}, names...) {
		fi, err := os.Lstat(filepath.Join(o.dir, n))
		if err == nil && fi.Mode()&os.ModeSymlink == 0 && !fi.Mode().IsRegular() {
			return fmt.Errorf("--out: %s is in the way (not a file or a link); move it away", filepath.Join(o.dir, n))
		}
		if err == nil && n == currentName && fi.Mode()&os.ModeSymlink == 0 {
			return fmt.Errorf("--out: %s is in the way (not a link); move it away", filepath.Join(o.dir, n))
		}
	}
	if err := os.MkdirAll(filepath.Join(o.dir, runsName), 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	var rb [4]byte
	rand.Read(rb[:])
	id := time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(rb[:])
	run := filepath.Join(runsName, id)
	if err := os.Rename(stage, filepath.Join(o.dir, run)); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := failpoint("run"); err != nil {
		return err
	}
	// An output folder of an older sgnas holds a plain manifest.json naming
	// plain model files; it goes first, so that no manifest names a file
	// that is being replaced.
	mp := filepath.Join(o.dir, manifestName)
	if fi, err := os.Lstat(mp); err == nil && fi.Mode().IsRegular() {
		if err := os.Remove(mp); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	// Links of new model names point into current/: dangling, and named by
	// no manifest, until current is swapped.
	for _, n := range names {
		if n == manifestName {
			continue
		}
		if err := o.link(n, filepath.Join(currentName, n)); err != nil {
			return err
		}
		if err := failpoint("link"); err != nil {
			return err
		}
	}
	prev, _ := os.Readlink(filepath.Join(o.dir, currentName))
	if err := o.link(currentName, run); err != nil {
		return err
	}
	if err := failpoint("current"); err != nil {
		return err
	}
	if err := o.link(manifestName, filepath.Join(currentName, manifestName)); err != nil {
		return err
	}
	return o.prune(names, run, prev)
}

// link makes dir/name a symbolic link to target in one rename.
func (o *outDir) link(name, target string) error {
	p := filepath.Join(o.dir, name)
	if t, err := os.Readlink(p); err == nil && t == target {
		return nil
	}
	tmp := filepath.Join(o.dir, stagePrefix+"link-"+name)
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}

// prune removes links into current/ that the new run does not name and
// every run but the new and the previous one.
func (o *outDir) prune(names []string, run, prev string) error {
	keep := map[string]bool{}
	for _, n := range names {
		keep[n] = true
	}
	ents, err := os.ReadDir(o.dir)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	for _, e := range ents {
		if e.Type()&os.ModeSymlink == 0 || keep[e.Name()] {
			continue
		}
		p := filepath.Join(o.dir, e.Name())
		if t, err := os.Readlink(p); err == nil && t == filepath.Join(currentName, e.Name()) {
			os.Remove(p)
		}
	}
	runs, err := os.ReadDir(filepath.Join(o.dir, runsName))
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	for _, e := range runs {
		r := filepath.Join(runsName, e.Name())
		if runID.MatchString(e.Name()) && r != run && r != prev {
			if err := os.RemoveAll(filepath.Join(o.dir, r)); err != nil {
				return fmt.Errorf("--out: remove old run %s: %w", r, err)
			}
		}
	}
	return nil
}
