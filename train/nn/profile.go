package nn

import (
	"fmt"
	"io"
	"sort"
	"time"
)

// Profile accumulates wall time per operation kind ("conv1x1",
// "depthwise", "bn", ...) for forward and backward passes of a Tape.
type Profile struct {
	Forward, Backward map[string]time.Duration
	Calls             map[string]int
}

// NewProfile returns an empty profile.
func NewProfile() *Profile {
	return &Profile{Forward: map[string]time.Duration{}, Backward: map[string]time.Duration{}, Calls: map[string]int{}}
}

// SetProfile makes the tape record per-op timings into p (nil disables).
func (t *Tape) SetProfile(p *Profile) { t.prof = p }

func (t *Tape) fwdDone(kind string, start time.Time) {
	if t.prof != nil {
		t.prof.Forward[kind] += time.Since(start)
		t.prof.Calls[kind]++
	}
}

func (t *Tape) now() time.Time {
	if t.prof == nil {
		return time.Time{}
	}
	return time.Now()
}

// recordK records a backward closure, timed under kind when profiling.
func (t *Tape) recordK(kind string, f func()) {
	if t.prof == nil {
		t.ops = append(t.ops, f)
		return
	}
	p := t.prof
	t.ops = append(t.ops, func() {
		s := time.Now()
		f()
		p.Backward[kind] += time.Since(s)
	})
}

// Write prints a table of milliseconds per kind, divided by steps.
func (p *Profile) Write(w io.Writer, steps int) {
	kinds := map[string]bool{}
	for k := range p.Forward {
		kinds[k] = true
	}
	for k := range p.Backward {
		kinds[k] = true
	}
	var ks []string
	for k := range kinds {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		return p.Forward[ks[i]]+p.Backward[ks[i]] > p.Forward[ks[j]]+p.Backward[ks[j]]
	})
	fmt.Fprintf(w, "%-12s %10s %10s %10s\n", "op", "fwd ms", "bwd ms", "total ms")
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 / float64(max(steps, 1)) }
	for _, k := range ks {
		fmt.Fprintf(w, "%-12s %10.2f %10.2f %10.2f\n", k, ms(p.Forward[k]), ms(p.Backward[k]), ms(p.Forward[k]+p.Backward[k]))
	}
}
