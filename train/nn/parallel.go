package nn

import (
	"runtime"
	"sync"
	"sync/atomic"
)

var threads atomic.Int32

// SetThreads sets how many goroutines kernels split their work over
// (n <= 0 means runtime.GOMAXPROCS(0)).
func SetThreads(n int) {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	threads.Store(int32(n))
}

// Threads returns the number of worker goroutines kernels use.
func Threads() int {
	n := int(threads.Load())
	if n <= 0 {
		return runtime.GOMAXPROCS(0)
	}
	return n
}

// parallelFor splits [0,n) into at most Threads() contiguous chunks and runs
// fn(worker, lo, hi) for each chunk concurrently. cost is a rough number of
// scalar operations per item; small jobs run on the calling goroutine.
func parallelFor(n int, cost int, fn func(worker, lo, hi int)) {
	if n <= 0 {
		return
	}
	w := Threads()
	if w > n {
		w = n
	}
	if w <= 1 || n*cost < 1<<14 {
		fn(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + w - 1) / w
	for i := 1; i < w; i++ {
		lo, hi := i*chunk, min((i+1)*chunk, n)
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func(i, lo, hi int) {
			defer wg.Done()
			fn(i, lo, hi)
		}(i, lo, hi)
	}
	fn(0, 0, min(chunk, n))
	wg.Wait()
}
