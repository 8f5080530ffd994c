package profiles

import (
	"math"

	"github.com/sgnas/sgnas/models"
)

// A shared machine does not run at one speed: on the 2-core development VM two
// passes over the same 100 models, a few minutes apart, differed by 5–6 %
// on every model alike, and whole models measured at the end of a build ran
// 10 % slower than the same models measured minutes later. Every chunk a build
// or a check times therefore also times a fixed set of reference items; the
// geometric mean of their times relative to the profile's reference values
// is that chunk's speed factor, and a build divides each chunk's times by it,
// so the table and the calibration are all at one machine speed: that of the
// median chunk (recenterSpeed; the first chunk, which times the references
// alone, runs faster than any chunk of many models and is a poor reference). A check reports its measurements both as they are and divided by
// their chunk's factor ("at the profile's speed"), which separates the
// predictor's error from the machine's drift.

// referenceKernels is the configuration of the reference layers and model.
var referenceKernels = []int{3, 3, 5, 7}

// referenceLayers are the searchable layers timed as references.
var referenceLayers = []int{4, 13}

// numReferences is len(ReferenceItems()).
const numReferences = 5

// ReferenceItems are the items timed in every chunk to measure the machine's
// speed: the stem, the head, two searchable layers and one whole model (every
// layer with kernels 3,3,5,7), so compute-bound and memory-bound pieces alike
// set the factor.
func ReferenceItems(space string) []Item {
	items := []Item{{Kind: ItemStem}, {Kind: ItemHead}}
	for _, l := range referenceLayers {
		items = append(items, Item{Kind: ItemLayer, Layer: l, Kernels: referenceKernels})
	}
	a := &models.Arch{Space: space, Layers: make([]models.Layer, models.NumLayers)}
	for l := range a.Layers {
		a.Layers[l].Kernels = append([]int(nil), referenceKernels...)
	}
	return append(items, Item{Kind: ItemModel, Arch: a})
}

// SpeedFactor is the geometric mean of got[i]/ref[i] (1.1: the machine ran
// 10 % slower than when ref was measured). It is 1 when ref is empty (a
// version 1 profile) or any value is not positive.
func SpeedFactor(got, ref []float64) float64 {
	if len(ref) == 0 || len(got) != len(ref) {
		return 1
	}
	s := 0.0
	for i := range ref {
		if !(got[i] > 0) || !(ref[i] > 0) {
			return 1
		}
		s += math.Log(got[i] / ref[i])
	}
	return math.Exp(s / float64(len(ref)))
}

const referenceText = "every chunk also times the reference items (stem, head, layers 4 and 13 with kernels 3,3,5,7, a whole model with kernels 3,3,5,7 in every layer); the geometric mean of their medians relative to reference_us is the chunk's speed factor (layers[].speed, calibration.speed), and the chunk's times (overhead subtracted) are divided by it; reference_us is the median chunk's speed (the first chunk's medians times the median factor)"
