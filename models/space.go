// Package models describes the SGNAS search spaces, architectures and the
// standalone networks they yield, and counts their FLOPs and parameters.
//
// It follows the authors' implementation (docs/reference.md; "reference §N"
// in comments points there): 19 searchable MobileNetV2-style layers, each with up to 6
// channel groups whose depthwise kernel is 3, 5 or 7 or which are dropped.
// FLOPs are multiply-accumulates of convolutions, as in the paper.
//
// The package is pure Go: it imports no training, protobuf or runtime code, so
// every other package can depend on it.
package models

import (
	"fmt"
	"strings"
)

// Search-space dimensions shared by every space.
const (
	NumLayers     = 19 // searchable layers
	NumGroups     = 6  // channel groups ("blocks") per layer = max expansion
	NumCandidates = 4  // candidates per group: k3, k5, k7, skip
	RowLen        = NumGroups * NumCandidates
	SkipCandidate = 3 // candidate index of "skip" within a group
	MinExpansion  = 1 // smallest expansion a standalone layer can have (group 0 never skipped)
)

// KernelSizes are the depthwise kernel sizes of candidates 0, 1 and 2.
var KernelSizes = [3]int{3, 5, 7}

// kernelIndex maps a kernel size to its candidate index, or -1.
func kernelIndex(k int) int {
	for i, ks := range KernelSizes {
		if ks == k {
			return i
		}
	}
	return -1
}

// Activation is the non-linearity used by the standalone network.
type Activation string

// Supported activations. The authors' option "relu" is ReLU6 everywhere
// (except inside SE, which always uses plain ReLU).
const (
	ReLU6  Activation = "relu6"
	HSwish Activation = "hswish"
)

// ParseActivation accepts "relu6", "relu" (the authors' name for ReLU6),
// "hswish" and "h-swish".
func ParseActivation(s string) (Activation, error) {
	switch strings.ToLower(s) {
	case "relu6", "relu":
		return ReLU6, nil
	case "hswish", "h-swish", "hardswish":
		return HSwish, nil
	}
	return "", fmt.Errorf("unknown activation %q: want relu6 or hswish", s)
}

// LayerSpec is one searchable layer of a space.
type LayerSpec struct {
	In, Out   int // channels
	Stride    int
	HIn, HOut int // square spatial size of the input and output
}

// Residual reports whether the layer has an identity shortcut (stride 1 and
// equal channel counts).
func (l LayerSpec) Residual() bool { return l.Stride == 1 && l.In == l.Out }

// MaxHidden is the full expanded width 6·In of the layer.
func (l LayerSpec) MaxHidden() int { return NumGroups * l.In }

// Space is a search space: the fixed skeleton around the 19 searchable layers.
type Space struct {
	Name         string // "imagenet", "cifar10" or "cifar100"
	InputSize    int    // square input resolution
	Classes      int    // default number of classes
	StemStride   int
	StemChannels int // 32
	FirstOut     int // output channels of the fixed first block: 16
	HeadChannels int // 1280
	Layers       [NumLayers]LayerSpec
	// LowFLOPs and HighFLOPs bound the generator's constraint range (LUT
	// MFLOPs): the constraint scalar is (T-Low)/(High-Low).
	LowFLOPs, HighFLOPs float64
}

// SpaceNames lists the names SpaceByName accepts.
var SpaceNames = []string{"imagenet", "cifar10", "cifar100"}

// layer table of reference §1.2: in, out, stride (ImageNet).
var layerTable = [NumLayers][3]int{
	{16, 32, 2}, {32, 32, 1}, {32, 40, 2}, {40, 40, 1}, {40, 40, 1}, {40, 40, 1},
	{40, 80, 2}, {80, 80, 1}, {80, 80, 1}, {80, 80, 1}, {80, 96, 1}, {96, 96, 1},
	{96, 96, 1}, {96, 96, 1}, {96, 192, 2}, {192, 192, 1}, {192, 192, 1}, {192, 192, 1},
	{192, 320, 1},
}

func newSpace(name string, input, classes, stemStride, layer0Stride int, low, high float64) *Space {
	s := &Space{
		Name: name, InputSize: input, Classes: classes, StemStride: stemStride,
		StemChannels: 32, FirstOut: 16, HeadChannels: 1280,
		LowFLOPs: low, HighFLOPs: high,
	}
	h := input / stemStride
	for i, row := range layerTable {
		stride := row[2]
		if i == 0 {
			stride = layer0Stride
		}
		hout := (h-1)/stride + 1
		s.Layers[i] = LayerSpec{In: row[0], Out: row[1], Stride: stride, HIn: h, HOut: hout}
		h = hout
	}
	return s
}

// SpaceByName returns a fresh copy of the named search space.
func SpaceByName(name string) (*Space, error) {
	switch strings.ToLower(name) {
	case "imagenet":
		return newSpace("imagenet", 224, 1000, 2, 2, 270, 450), nil
	case "cifar10":
		return newSpace("cifar10", 32, 10, 1, 1, 80, 120), nil
	case "cifar100":
		return newSpace("cifar100", 32, 100, 1, 1, 80, 120), nil
	}
	return nil, fmt.Errorf("unknown search space %q: want one of %s", name, strings.Join(SpaceNames, ", "))
}

// MustSpace is SpaceByName for names known to be valid; it panics otherwise.
func MustSpace(name string) *Space {
	s, err := SpaceByName(name)
	if err != nil {
		panic(err)
	}
	return s
}

// StemOutSize is the spatial size after the stem (and the first block).
func (s *Space) StemOutSize() int { return (s.InputSize-1)/s.StemStride + 1 }

// FinalSize is the spatial size of the last feature map (7 or 4).
func (s *Space) FinalSize() int { return s.Layers[NumLayers-1].HOut }
