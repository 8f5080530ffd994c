package weights

import (
	"hash/fnv"
	"math"
	"math/rand/v2"

	"github.com/sgnas/sgnas/models"
)

// Init creates a state dict for specs with the authors' init scheme
// (reference §2.1): conv weight ~ N(0, sqrt(2/(k·k·out_channels))), conv bias
// 0; BN weight 1, bias 0, running_mean 0, running_var 1; linear weight
// ~ N(0, 0.01), bias 0. Every tensor draws from its own generator seeded by
// (seed, tensor name), so adding or removing a tensor leaves the others
// unchanged.
func Init(specs []models.TensorSpec, seed int64) StateDict {
	sd := make(StateDict, len(specs))
	for _, s := range specs {
		t := NewTensor(s.Shape...)
		switch s.Kind {
		case models.ConvWeight:
			fanOut := s.FanOut
			if fanOut == 0 && len(s.Shape) == 4 {
				fanOut = s.Shape[0] * s.Shape[2] * s.Shape[3]
			}
			fillNormal(t.Data, math.Sqrt(2/float64(fanOut)), seed, s.Name)
		case models.LinearWeight:
			fillNormal(t.Data, 0.01, seed, s.Name)
		case models.BNWeight, models.BNVar:
			for i := range t.Data {
				t.Data[i] = 1
			}
		}
		sd[s.Name] = t
	}
	return sd
}

// Stream returns the random generator Init uses for a tensor name.
func Stream(seed int64, name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
}

func fillNormal(dst []float32, std float64, seed int64, name string) {
	rng := Stream(seed, name)
	for i := range dst {
		dst[i] = float32(rng.NormFloat64() * std)
	}
}
