package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

func collect(t *testing.T, l *Loader, epoch, start int) []*Batch {
	t.Helper()
	it := l.Epoch(context.Background(), epoch, start)
	defer it.Close()
	var out []*Batch
	for {
		b, err := it.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
}

func sameBatches(a, b []*Batch) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !slices.Equal(a[k].X, b[k].X) || !slices.Equal(a[k].Y, b[k].Y) || !slices.Equal(a[k].Indices, b[k].Indices) ||
			a[k].N != b[k].N || a[k].Index != b[k].Index {
			return false
		}
	}
	return true
}

func synth(t testing.TB, n int) *Synthetic {
	s, err := NewSynthetic(SyntheticOptions{Seed: 11, Samples: n})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLoaderDeterminism(t *testing.T) {
	ds := synth(t, 100)
	idx, _, _ := Split(ds.Len(), 0.8)
	mk := func(seed uint64, workers int) *Loader {
		l, err := NewLoader(ds, idx, LoaderOptions{BatchSize: 16, Seed: seed, Shuffle: true, Train: true, Workers: workers, Prefetch: 3})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	a, b, c := mk(42, 1), mk(42, 5), mk(43, 3)
	if a.NumBatches() != 5 || a.Len() != 80 {
		t.Fatalf("batches %d len %d, want 5 80", a.NumBatches(), a.Len())
	}
	e0a, e0b, e1a, e0c := collect(t, a, 0, 0), collect(t, b, 0, 0), collect(t, a, 1, 0), collect(t, c, 0, 0)
	if !sameBatches(e0a, e0b) {
		t.Fatal("same seed, different worker counts: batches differ")
	}
	if !sameBatches(e0a, collect(t, a, 0, 0)) {
		t.Fatal("same loader, same epoch twice: batches differ")
	}
	if sameBatches(e0a, e1a) || sameBatches(e0a, e0c) {
		t.Fatal("different epochs or seeds give identical batches")
	}
	// Every epoch visits each training index exactly once; the last batch is short.
	for _, ep := range [][]*Batch{e0a, e1a} {
		var seen []int
		for k, bt := range ep {
			want := 16
			if k == 4 {
				want = 80 - 64
			}
			if bt.N != want || len(bt.Y) != bt.N || len(bt.X) != bt.N*3*32*32 || bt.C != 3 || bt.H != 32 || bt.W != 32 || bt.Index != k {
				t.Fatalf("batch %d: N %d Y %d X %d shape %dx%dx%d index %d", k, bt.N, len(bt.Y), len(bt.X), bt.C, bt.H, bt.W, bt.Index)
			}
			for j, i := range bt.Indices {
				if bt.Y[j] != ds.Label(i) {
					t.Fatalf("batch %d sample %d: label %d, want %d", k, j, bt.Y[j], ds.Label(i))
				}
			}
			seen = append(seen, bt.Indices...)
		}
		sort.Ints(seen)
		if !slices.Equal(seen, idx) {
			t.Fatalf("epoch does not cover the index subset exactly once: %v", seen)
		}
	}
	if slices.Equal(e0a[0].Indices, indexRange(16)) {
		t.Fatal("shuffled epoch starts in index order")
	}
	// Each sample is the dataset's training transform under AugmentRand(seed, epoch, i).
	bt := e1a[2]
	for j, i := range bt.Indices {
		img, _, err := sampleOf(ds, i, AugmentRand(42, 1, i), true)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(img, bt.X[j*3072:(j+1)*3072]) {
			t.Fatalf("sample %d of batch differs from Get with AugmentRand", j)
		}
	}
	// Resuming at batch 3 yields the uninterrupted run's batches 3 and 4.
	if !sameBatches(collect(t, b, 1, 3), e1a[3:]) {
		t.Fatal("epoch started at batch 3 differs from the tail of the full epoch")
	}
	if got := collect(t, a, 0, 99); len(got) != 0 {
		t.Fatalf("start past the end: %d batches", len(got))
	}
}

func TestLoaderEvalOrder(t *testing.T) {
	ds := synth(t, 10)
	l, err := NewLoader(ds, []int{9, 3, 5, 1, 0}, LoaderOptions{BatchSize: 2, DropLast: true})
	if err != nil {
		t.Fatal(err)
	}
	bs := collect(t, l, 7, 0)
	if len(bs) != 2 || l.NumBatches() != 2 || !slices.Equal(bs[0].Indices, []int{9, 3}) || !slices.Equal(bs[1].Indices, []int{5, 1}) {
		t.Fatalf("unshuffled batches: %d, %v", len(bs), bs)
	}
	img, _, _ := sampleOf(ds, 3, nil, false)
	if !slices.Equal(bs[0].X[3072:], img) {
		t.Fatal("eval batch differs from the evaluation transform")
	}
	for _, bad := range [][]int{{10}, {-1}} {
		if _, err := NewLoader(ds, bad, LoaderOptions{BatchSize: 1}); err == nil {
			t.Errorf("indices %v: no error", bad)
		}
	}
	if _, err := NewLoader(ds, nil, LoaderOptions{}); err == nil {
		t.Error("batch size 0: no error")
	}
}

// slowDS delays each Get and can fail on one index.
type slowDS struct {
	*Synthetic
	delay time.Duration
	fail  int
}

func (s *slowDS) Get(i int, r *rand.Rand, train bool, dst []float32) (int, error) {
	time.Sleep(s.delay)
	if i == s.fail {
		return 0, fmt.Errorf("broken sample %d", i)
	}
	return s.Synthetic.Get(i, r, train, dst)
}

// waitGoroutines waits until the goroutine count drops to at most n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines still running, want <= %d\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLoaderCancel(t *testing.T) {
	ds := &slowDS{Synthetic: synth(t, 400), delay: time.Millisecond, fail: -1}
	l, err := NewLoader(ds, indexRange(400), LoaderOptions{BatchSize: 4, Shuffle: true, Train: true, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	base := runtime.NumGoroutine()

	// Cancelling the context ends Next with the context's error, and the goroutines
	// exit even before Close.
	ctx, cancel := context.WithCancel(context.Background())
	it := l.Epoch(ctx, 0, 0)
	if _, err := it.Next(); err != nil {
		t.Fatal(err)
	}
	if runtime.NumGoroutine() <= base {
		t.Fatal("no background goroutines while loading")
	}
	cancel()
	if _, err := it.Next(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next after cancel: %v, want context.Canceled", err)
	}
	waitGoroutines(t, base)
	it.Close()
	it.Close() // idempotent

	// Close alone (consumer stops early) also stops them.
	it = l.Epoch(context.Background(), 1, 0)
	it.Next()
	it.Close()
	// Close waits for every worker's wg.Done; a goroutine may still be a few
	// instructions from exiting then, so poll (bounded) rather than count once.
	waitGoroutines(t, base)
	if _, err := it.Next(); err == nil {
		t.Fatal("Next after Close: no error")
	}
}

func TestLoaderError(t *testing.T) {
	ds := &slowDS{Synthetic: synth(t, 40), fail: 13}
	l, _ := NewLoader(ds, indexRange(40), LoaderOptions{BatchSize: 5, Workers: 3})
	base := runtime.NumGoroutine()
	it := l.Epoch(context.Background(), 2, 0)
	defer it.Close()
	var err error
	got := 0
	for err == nil {
		_, err = it.Next()
		got++
	}
	if got != 3 || err == nil || !strings.Contains(err.Error(), "epoch 2 batch 2: broken sample 13") {
		t.Fatalf("after %d calls: %v, want the third batch to fail naming sample 13", got, err)
	}
	if _, err2 := it.Next(); err2 != err {
		t.Fatalf("Next after an error: %v, want the same error", err2)
	}
	waitGoroutines(t, base)
}

func TestSplit(t *testing.T) {
	tr, va, err := Split(10, 0.8)
	if err != nil || !slices.Equal(tr, indexRange(8)) || !slices.Equal(va, []int{8, 9}) {
		t.Fatalf("Split(10, 0.8) = %v %v %v", tr, va, err)
	}
	tr, va, _ = Split(5, 0.5) // floor(2.5) = 2
	if len(tr) != 2 || len(va) != 3 || va[0] != 2 {
		t.Fatalf("Split(5, 0.5) = %v %v", tr, va)
	}
	tr, va, _ = Split(7, 1)
	if len(tr) != 7 || len(va) != 0 {
		t.Fatalf("Split(7, 1) = %v %v", tr, va)
	}
	for _, p := range []float64{-0.1, 1.5} {
		if _, _, err := Split(10, p); err == nil || !strings.Contains(err.Error(), "train_portion") {
			t.Errorf("portion %v: %v", p, err)
		}
	}
	if _, err := Open("imagenet-lmdb", "", Options{}); err == nil || !strings.Contains(err.Error(), "cifar10, cifar100, fashion-mnist, folder, synthetic") {
		t.Errorf("unknown kind: %v", err)
	}
}

// classOrdered is a dataset stored class by class, like a folder dataset.
type classOrdered struct {
	*Synthetic
	labels []int
}

func (c classOrdered) Len() int        { return len(c.labels) }
func (c classOrdered) Label(i int) int { return c.labels[i] }

func TestSplitByClass(t *testing.T) {
	// 3 classes of 10, 5 and 1 samples, stored in class order.
	var labels []int
	for c, n := range []int{10, 5, 1} {
		for k := 0; k < n; k++ {
			labels = append(labels, c)
		}
	}
	ds := classOrdered{Synthetic: synth(t, 16), labels: labels}
	tr, va, err := SplitByClass(ds, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int][2]int{0: {8, 2}, 1: {4, 1}, 2: {0, 1}}
	got := map[int][2]int{}
	for _, i := range tr {
		g := got[labels[i]]
		g[0]++
		got[labels[i]] = g
	}
	for _, i := range va {
		g := got[labels[i]]
		g[1]++
		got[labels[i]] = g
	}
	for c, w := range want {
		if got[c] != w {
			t.Errorf("class %d: %v train/val, want %v", c, got[c], w)
		}
	}
	if len(tr)+len(va) != len(labels) {
		t.Fatalf("%d + %d samples, want %d", len(tr), len(va), len(labels))
	}
	// The index split of the same data gives validation only the last classes.
	_, iva, _ := Split(len(labels), 0.8)
	for _, i := range iva {
		if labels[i] == 0 {
			t.Fatal("index split unexpectedly put class 0 into validation")
		}
	}
	if _, _, err := SplitByClass(ds, 1.5); err == nil {
		t.Fatal("portion 1.5 accepted")
	}
}
