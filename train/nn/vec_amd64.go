//go:build amd64 && !purego

package nn

import "golang.org/x/sys/cpu"

// haveVecAVX2 gates the AVX2+FMA BatchNorm loops in vec_amd64.s.
var haveVecAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func sumAVX2(x *float32, n int) float32

//go:noescape
func sumSqDevAVX2(x *float32, n int, mu float32) float32

//go:noescape
func affineAVX2(x, y *float32, n int, a, b float32, relu6 bool)

//go:noescape
func bnBwdSumsAVX2(x, dy *float32, n int, a, b float32, relu6 bool) (s1, s2 float32)

//go:noescape
func bnBwdDxAVX2(x, dy, dx *float32, n int, a, b, c1, c0 float32, relu6 bool)

//go:noescape
func dwFlatAVX2(out, in, w *float32, offs *int, ntaps, n int)

//go:noescape
func dwDotsAVX2(gy, in *float32, offs *int, ntaps, n int, out *float32)

//go:noescape
func axpyAVX2(dst, x *float32, n int, a float32)
