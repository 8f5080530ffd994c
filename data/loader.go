package data

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
)

// Batch is one mini-batch: X holds N images of C×H×W in NCHW order, Y their labels.
type Batch struct {
	X          []float32
	Y          []int
	N, C, H, W int
	// Epoch and Index locate the batch (Index counts from 0 within the epoch);
	// Indices are the dataset indices of its samples.
	Epoch, Index int
	Indices      []int
}

// LoaderOptions configures a Loader.
type LoaderOptions struct {
	// BatchSize is the number of samples per batch (required, > 0).
	BatchSize int
	// Seed determines the per-epoch shuffle and all augmentation randomness.
	Seed uint64
	// Shuffle reorders the indices every epoch (a permutation derived from Seed and
	// the epoch); without it batches follow the index order given.
	Shuffle bool
	// Train applies the dataset's training augmentation; otherwise the deterministic
	// evaluation transform is used.
	Train bool
	// DropLast drops a final batch smaller than BatchSize.
	DropLast bool
	// Workers is the number of goroutines preparing batches (default GOMAXPROCS).
	Workers int
	// Prefetch is how many batches may be prepared ahead of the consumer
	// (default 2×Workers, at least 2).
	Prefetch int
}

// Loader yields mini-batches of a dataset restricted to a subset of indices.
// Batches are prepared by background goroutines; the result depends only on the
// dataset, the indices, the options and the epoch, never on scheduling: sample i in
// epoch e is augmented with AugmentRand(Seed, e, i) and the epoch's order is a
// permutation derived from (Seed, e).
type Loader struct {
	ds   Dataset
	idx  []int
	opts LoaderOptions
}

// NewLoader returns a loader over ds restricted to indices (e.g. from Split or Range).
func NewLoader(ds Dataset, indices []int, opts LoaderOptions) (*Loader, error) {
	if opts.BatchSize < 1 {
		return nil, fmt.Errorf("data loader: batch size %d: want at least 1", opts.BatchSize)
	}
	if opts.Workers < 0 || opts.Prefetch < 0 {
		return nil, fmt.Errorf("data loader: workers %d, prefetch %d: want non-negative values", opts.Workers, opts.Prefetch)
	}
	if opts.Workers == 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Prefetch == 0 {
		opts.Prefetch = max(2, 2*opts.Workers)
	}
	n := ds.Len()
	for k, i := range indices {
		if i < 0 || i >= n {
			return nil, fmt.Errorf("data loader: index %d (position %d) out of range [0,%d)", i, k, n)
		}
	}
	return &Loader{ds: ds, idx: append([]int(nil), indices...), opts: opts}, nil
}

// Dataset returns the loader's dataset.
func (l *Loader) Dataset() Dataset { return l.ds }

// Len is the number of samples per epoch (before DropLast).
func (l *Loader) Len() int { return len(l.idx) }

// NumBatches is the number of batches per epoch.
func (l *Loader) NumBatches() int {
	b := l.opts.BatchSize
	if l.opts.DropLast {
		return len(l.idx) / b
	}
	return (len(l.idx) + b - 1) / b
}

// Order returns the dataset indices of an epoch in the order they are batched.
func (l *Loader) Order(epoch int) []int {
	order := append([]int(nil), l.idx...)
	if l.opts.Shuffle {
		r := newRand(l.opts.Seed, streamShuffle, uint64(epoch), 0)
		for i := len(order) - 1; i > 0; i-- {
			j := r.IntN(i + 1)
			order[i], order[j] = order[j], order[i]
		}
	}
	return order
}

// Epoch starts preparing the batches of the given epoch from batch startBatch on
// (0 for a whole epoch; a later batch resumes mid-epoch with the same data the
// uninterrupted run would have seen). The caller must Close the returned iterator,
// which stops and waits for its goroutines; cancelling ctx stops them too.
func (l *Loader) Epoch(ctx context.Context, epoch, startBatch int) *Iter {
	nb := l.NumBatches()
	startBatch = min(max(startBatch, 0), nb)
	ctx, cancel := context.WithCancel(ctx)
	it := &Iter{
		l:       l,
		ctx:     ctx,
		cancel:  cancel,
		epoch:   epoch,
		order:   l.Order(epoch),
		start:   startBatch,
		next:    startBatch,
		end:     nb,
		results: make([]chan batchResult, nb-startBatch),
		tokens:  make(chan struct{}, l.opts.Prefetch),
	}
	for k := range it.results {
		it.results[k] = make(chan batchResult, 1)
	}
	jobs := make(chan int)
	it.wg.Add(1 + l.opts.Workers)
	go it.dispatch(jobs)
	for w := 0; w < l.opts.Workers; w++ {
		go it.work(jobs)
	}
	return it
}

// Iter yields the batches of one epoch in order. Next is meant to be called from
// one goroutine; Close may be called from any.
type Iter struct {
	l           *Loader
	ctx         context.Context
	cancel      context.CancelFunc
	wg          sync.WaitGroup
	epoch       int
	order       []int
	start, next int
	end         int
	results     []chan batchResult
	tokens      chan struct{}
	err         error
	closeOnce   sync.Once
}

type batchResult struct {
	b   *Batch
	err error
}

// dispatch hands batch numbers to the workers, at most Prefetch ahead of Next.
func (it *Iter) dispatch(jobs chan<- int) {
	defer it.wg.Done()
	defer close(jobs)
	for k := it.start; k < it.end; k++ {
		select {
		case it.tokens <- struct{}{}:
		case <-it.ctx.Done():
			return
		}
		select {
		case jobs <- k:
		case <-it.ctx.Done():
			return
		}
	}
}

func (it *Iter) work(jobs <-chan int) {
	defer it.wg.Done()
	for {
		select {
		case k, ok := <-jobs:
			if !ok {
				return
			}
			b, err := it.build(k)
			it.results[k-it.start] <- batchResult{b, err} // buffered, written once
		case <-it.ctx.Done():
			return
		}
	}
}

// build prepares batch k of the epoch.
func (it *Iter) build(k int) (*Batch, error) {
	l := it.l
	lo := k * l.opts.BatchSize
	hi := min(lo+l.opts.BatchSize, len(it.order))
	c, h, w := l.ds.Shape()
	chw := c * h * w
	b := &Batch{
		X: make([]float32, (hi-lo)*chw), Y: make([]int, hi-lo),
		N: hi - lo, C: c, H: h, W: w,
		Epoch: it.epoch, Index: k, Indices: append([]int(nil), it.order[lo:hi]...),
	}
	for j, i := range b.Indices {
		if err := it.ctx.Err(); err != nil {
			return nil, err
		}
		var label int
		var err error
		if l.opts.Train {
			label, err = l.ds.Get(i, AugmentRand(l.opts.Seed, it.epoch, i), true, b.X[j*chw:(j+1)*chw])
		} else {
			label, err = l.ds.Get(i, nil, false, b.X[j*chw:(j+1)*chw])
		}
		if err != nil {
			return nil, fmt.Errorf("epoch %d batch %d: %w", it.epoch, k, err)
		}
		b.Y[j] = label
	}
	return b, nil
}

// Next returns the next batch, io.EOF after the last one, or the first error met
// (a sample that failed to load, or the context's error once it is cancelled).
func (it *Iter) Next() (*Batch, error) {
	if it.err != nil {
		return nil, it.err
	}
	if err := it.ctx.Err(); err != nil {
		it.fail(err)
		return nil, err
	}
	if it.next >= it.end {
		return nil, io.EOF
	}
	var r batchResult
	select {
	case r = <-it.results[it.next-it.start]:
	case <-it.ctx.Done():
		it.fail(it.ctx.Err())
		return nil, it.err
	}
	it.results[it.next-it.start] = nil
	<-it.tokens // free a prefetch slot; the dispatcher took it before this batch
	it.next++
	if r.err != nil {
		it.fail(r.err)
		return nil, r.err
	}
	return r.b, nil
}

// fail records the iterator's terminal error and stops the workers.
func (it *Iter) fail(err error) {
	it.err = err
	it.cancel()
}

// Close stops the background goroutines and waits for them to exit. It is safe to
// call more than once.
func (it *Iter) Close() {
	it.closeOnce.Do(func() {
		it.cancel()
		it.wg.Wait()
	})
}
