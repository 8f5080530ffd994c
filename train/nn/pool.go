package nn

import "sync"

// Pool recycles float32 buffers by exact length so that steps after the
// first allocate (almost) nothing. It is safe for concurrent use.
type Pool struct {
	mu   sync.Mutex
	free map[int][][]float32
}

// NewPool returns an empty buffer pool.
func NewPool() *Pool { return &Pool{free: map[int][][]float32{}} }

// Get returns a zeroed buffer of length n.
func (p *Pool) Get(n int) []float32 {
	b := p.GetDirty(n)
	clear(b)
	return b
}

// GetDirty returns a buffer of length n with unspecified contents.
func (p *Pool) GetDirty(n int) []float32 {
	if p == nil {
		return make([]float32, n)
	}
	p.mu.Lock()
	l := p.free[n]
	if k := len(l); k > 0 {
		b := l[k-1]
		p.free[n] = l[:k-1]
		p.mu.Unlock()
		return b
	}
	p.mu.Unlock()
	return make([]float32, n)
}

// Put returns a buffer to the pool.
func (p *Pool) Put(b []float32) {
	if p == nil || b == nil {
		return
	}
	p.mu.Lock()
	p.free[len(b)] = append(p.free[len(b)], b[:len(b):len(b)])
	p.mu.Unlock()
}
