//go:build !amd64 || purego

package nn

const haveVecAVX2 = false

func sumAVX2(x *float32, n int) float32                         { panic("unreachable") }
func sumSqDevAVX2(x *float32, n int, mu float32) float32        { panic("unreachable") }
func affineAVX2(x, y *float32, n int, a, b float32, relu6 bool) { panic("unreachable") }
func bnBwdSumsAVX2(x, dy *float32, n int, a, b float32, relu6 bool) (s1, s2 float32) {
	panic("unreachable")
}
func bnBwdDxAVX2(x, dy, dx *float32, n int, a, b, c1, c0 float32, relu6 bool) { panic("unreachable") }

func dwFlatAVX2(out, in, w *float32, offs *int, ntaps, n int)           { panic("unreachable") }
func dwDotsAVX2(gy, in *float32, offs *int, ntaps, n int, out *float32) { panic("unreachable") }

func axpyAVX2(dst, x *float32, n int, a float32) { panic("unreachable") }
