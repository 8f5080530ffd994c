package generator

import (
	"context"
	"fmt"
	"math"
	"math/rand"

	"github.com/sgnas/sgnas/models"
)

// PoolKeys are the authors' prior-pool keys (reference §4): interval =
// (high − low) // (size + 1), keys = range(low + interval, high − 1, interval).
// ImageNet with size 1: {360}; CIFAR: {100}.
func PoolKeys(s *models.Space, size int) []int {
	low, high := int(s.LowFLOPs), int(s.HighFLOPs)
	interval := (high - low) / (size + 1)
	if interval <= 0 {
		return nil
	}
	var keys []int
	for k := low + interval; k < high-1; k += interval {
		keys = append(keys, k)
	}
	return keys
}

// maxPriorTries bounds the rejection sampling per key.
const maxPriorTries = 10_000_000

// BuildPriorPool builds a prior pool as the authors do: for each key, random
// architectures (expansion uniform in 2..6 per layer, a uniformly random
// kernel per group) are drawn until one has |LUT FLOPs − key| ≤ 1. The pool
// is a deterministic function of (space, size, seed).
func BuildPriorPool(ctx context.Context, s *models.Space, size int, seed int64) (models.PriorPool, error) {
	keys := PoolKeys(s, size)
	if len(keys) == 0 {
		return nil, fmt.Errorf("prior pool of size %d: no keys in [%g, %g]", size, s.LowFLOPs, s.HighFLOPs)
	}
	lut := s.LUT()
	rng := rand.New(rand.NewSource(seed))
	pool := models.PriorPool{}
	for _, k := range keys {
		found := false
		for try := 0; try < maxPriorTries; try++ {
			if try%4096 == 0 && ctx.Err() != nil {
				return nil, ctx.Err()
			}
			a := models.RandomArch(s.Name, rng, 2, 6)
			if math.Abs(lut.ArchMFLOPs(a)-float64(k)) <= 1 {
				pool[k] = a
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("prior pool: no random architecture within 1 MFLOPs of key %d after %d tries", k, maxPriorTries)
		}
	}
	return pool, nil
}
