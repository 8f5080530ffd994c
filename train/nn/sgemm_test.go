package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// testKernels returns every micro-kernel the driver can use here: the asm
// ones this CPU supports plus portable Go kernels of several tile shapes.
func testKernels() []*microKernel {
	ks := asmKernels()
	for _, s := range [][2]int{{6, 16}, {4, 8}, {3, 5}} {
		ks = append(ks, &microKernel{name: fmt.Sprintf("go-%dx%d", s[0], s[1]), mr: s[0], nr: s[1], fn: kernelGo(s[0], s[1])})
	}
	return ks
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	padA, padB     int // extra leading-dimension padding
	padC           int
}

// refGemm computes the float64 result and, per element, the sum of
// absolute products (the scale of the rounding error bound).
func refGemm(tc gemmCase, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) (ref, mag []float64) {
	ref = make([]float64, tc.m*tc.n)
	mag = make([]float64, tc.m*tc.n)
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			var s, sa float64
			for p := 0; p < tc.k; p++ {
				var av, bv float32
				if tc.transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if tc.transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
				sa += math.Abs(float64(av) * float64(bv))
			}
			r := float64(tc.alpha) * s
			mg := math.Abs(float64(tc.alpha)) * sa
			if tc.beta != 0 {
				cv := float64(c[i*ldc+j])
				r += float64(tc.beta) * cv
				mg += math.Abs(float64(tc.beta) * cv)
			}
			ref[i*tc.n+j], mag[i*tc.n+j] = r, mg
		}
	}
	return ref, mag
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// checkGemm runs one case through f and compares with the float64
// reference; padding beyond each matrix and C's gaps must stay untouched.
func checkGemm(t *testing.T, rng *rand.Rand, name string, tc gemmCase, f func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)) {
	t.Helper()
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = tc.k, tc.m
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = tc.n, tc.k
	}
	lda, ldb, ldc := max(1, ac+tc.padA), max(1, bc+tc.padB), max(1, tc.n+tc.padC)
	a := randSlice(rng, ar*lda)
	b := randSlice(rng, br*ldb)
	c := randSlice(rng, tc.m*ldc+3)
	if tc.beta == 0 { // beta == 0 must not read C
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	sentinel := float32(12345.5)
	for i := 0; i < tc.m; i++ {
		for j := tc.n; j < ldc; j++ {
			c[i*ldc+j] = sentinel
		}
	}
	c[len(c)-1] = sentinel
	ref, mag := refGemm(tc, a, lda, b, ldb, c, ldc)
	f(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
	const eps32 = 1.0 / (1 << 23)
	for i := 0; i < tc.m; i++ {
		for j := 0; j < ldc; j++ {
			got := c[i*ldc+j]
			if j >= tc.n {
				if got != sentinel {
					t.Fatalf("%s %+v: wrote outside C at (%d,%d)", name, tc, i, j)
				}
				continue
			}
			want := ref[i*tc.n+j]
			tol := 2*float64(tc.k+2)*eps32*mag[i*tc.n+j] + 1e-30
			if d := math.Abs(float64(got) - want); !(d <= tol) {
				t.Fatalf("%s %+v: C[%d,%d] = %v, want %v (|diff| %.3g > tol %.3g)", name, tc, i, j, got, want, d, tol)
			}
		}
	}
	if c[len(c)-1] != sentinel {
		t.Fatalf("%s %+v: wrote past C", name, tc)
	}
}

func driverFunc(kern *microKernel) func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int) {
	return func(ta, tb bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		sgemmPacked(kern, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
}

// TestSgemmSmallShapes: every kernel, all transposition combinations, odd
// sizes around the tile edges, alpha/beta variants and strided operands.
func TestSgemmSmallShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{1, 2, 3, 5, 6, 7, 8, 11, 12, 13, 16, 17, 23, 24, 31, 32, 33, 47, 48, 49, 70}
	ab := [][2]float32{{1, 0}, {1, 1}, {-0.5, 2}, {1.5, -1}, {0, 0.5}, {2, 0}}
	for _, kern := range testKernels() {
		for trans := 0; trans < 4; trans++ {
			for it := 0; it < 60; it++ {
				tc := gemmCase{
					transA: trans&1 != 0, transB: trans&2 != 0,
					m: sizes[rng.IntN(len(sizes))], n: sizes[rng.IntN(len(sizes))],
					k:    1 + rng.IntN(300),
					padA: rng.IntN(3) * rng.IntN(5), padB: rng.IntN(3) * rng.IntN(5), padC: rng.IntN(2) * rng.IntN(7),
				}
				p := ab[rng.IntN(len(ab))]
				tc.alpha, tc.beta = p[0], p[1]
				checkGemm(t, rng, kern.name, tc, driverFunc(kern))
			}
		}
	}
}

// TestSgemmBlockEdges crosses the kc, mc and nc block boundaries (k > 256
// accumulates over several kc blocks with beta applied once).
func TestSgemmBlockEdges(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: GEMMs across several cache blocks (long)")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	cases := []gemmCase{
		{m: gemmMC + 7, n: gemmNC + 21, k: gemmKC + 1, alpha: 1, beta: 0.5},
		{transA: true, m: 2*gemmMC + 1, n: 37, k: 2*gemmKC + 3, alpha: 1, beta: 0},
		{transB: true, m: 13, n: gemmNC + 1, k: gemmKC - 1, alpha: -1, beta: 1, padB: 5},
		{transA: true, transB: true, m: gemmMC, n: 2 * gemmNC / 3, k: 3 * gemmKC, alpha: 0.25, beta: 1, padA: 2, padC: 3},
	}
	for _, kern := range testKernels() {
		for _, tc := range cases {
			checkGemm(t, rng, kern.name, tc, driverFunc(kern))
		}
	}
}

// TestSgemmEngineShapes checks the GEMM shapes the supernet's 1×1 convs
// use (forward, weight gradient, input gradient) through the engine's
// parallel wrappers, against gonum and the float64 reference.
func TestSgemmEngineShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	type shape struct{ cin, cout, np int }
	shapes := []shape{{16, 48, 1024}, {48, 16, 2048}, {96, 24, 512}, {320, 1280, 64}, {72, 24, 300}, {960, 160, 128}}
	if testing.Short() {
		shapes = shapes[:3]
	}
	pool := NewPool()
	for _, s := range shapes {
		// forward Y = W·X
		checkGemm(t, rng, "fwd", gemmCase{m: s.cout, n: s.np, k: s.cin, alpha: 1},
			func(ta, tb bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
				gemmSplitN(ta, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
			})
		// input gradient dX += Wᵀ·dY
		checkGemm(t, rng, "dx", gemmCase{transA: true, m: s.cin, n: s.np, k: s.cout, alpha: 1, beta: 1},
			func(ta, tb bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
				gemmSplitN(ta, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
			})
		// weight gradient dW += dY·Xᵀ
		checkGemm(t, rng, "dw", gemmCase{transB: true, m: s.cout, n: s.cin, k: s.np, alpha: 1, beta: 1},
			func(ta, tb bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
				gemmABtAcc(m, n, k, alpha, a, lda, b, ldb, c[:m*n], pool) // C is exactly m×n here
			})
	}
}

// TestSgemmRandomVsGonum is a randomized differential test of the default
// gemm path against gonum's blas32 on random shapes (bit-level agreement
// is not expected; both must stay within the float32 error bound).
func TestSgemmRandomVsGonum(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for it := 0; it < 200; it++ {
		tc := gemmCase{transA: rng.IntN(2) == 0, transB: rng.IntN(2) == 0,
			m: 1 + rng.IntN(70), n: 1 + rng.IntN(70), k: rng.IntN(300),
			alpha: float32(rng.NormFloat64()), beta: float32(rng.IntN(3)) * float32(rng.NormFloat64()),
			padA: rng.IntN(4), padB: rng.IntN(4), padC: rng.IntN(4)}
		checkGemm(t, rng, "gemm", tc, gemm)
		checkGemm(t, rng, "gonum", tc, func(ta, tb bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
			tA, tB := blas.NoTrans, blas.NoTrans
			if ta {
				tA = blas.Trans
			}
			if tb {
				tB = blas.Trans
			}
			blas32.Implementation().Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		})
	}
}

func TestSgemmKernelChoice(t *testing.T) {
	if gemmKernel != nil {
		t.Logf("gemm micro-kernel: %s (%d×%d)", gemmKernel.name, gemmKernel.mr, gemmKernel.nr)
		if gemmDotTile != nil {
			t.Logf("A·Bᵀ dot tile: %s", gemmDotTile.name)
		}
	} else {
		t.Logf("gemm backend: %s (no asm micro-kernel for this CPU/build)", GEMMBackend())
	}
}

// TestGEMMRequest: SGNAS_GEMM selects the path it names (CI runs the
// engine's tests once per path in GEMMPaths, and a request this CPU cannot
// honour must fail rather than test another path under its name).
func TestGEMMRequest(t *testing.T) {
	t.Logf("SGNAS_GEMM paths: %s", strings.Join(GEMMPaths(), " "))
	if gemmRequestErr != nil {
		t.Fatal(gemmRequestErr)
	}
	want := os.Getenv("SGNAS_GEMM")
	switch {
	case want == "gonum" && gemmKernel != nil:
		t.Fatalf("SGNAS_GEMM=gonum but the asm kernel %s is in use", gemmKernel.name)
	case want != "" && want != "gonum" && (gemmKernel == nil || !strings.HasPrefix(gemmKernel.name, want+"-")):
		t.Fatalf("SGNAS_GEMM=%s but the GEMM backend is %s", want, GEMMBackend())
	}
	k512 := &microKernel{name: "avx512-12x32"}
	k2 := &microKernel{name: "avx2-6x16"}
	d512, d2 := &dotKernel{name: "avx512-dot4x4"}, &dotKernel{name: "avx2-dot2x4"}
	ks, ds := []*microKernel{k512, k2}, []*dotKernel{d512, d2}
	for _, c := range []struct {
		want string
		k    *microKernel
		d    *dotKernel
		err  bool
	}{{"", k512, d512, false}, {"avx512", k512, d512, false}, {"avx2", k2, d2, false}, {"gonum", nil, nil, false}, {"neon", k512, d512, true}} {
		k, d, err := pickGEMM(c.want, false, ks, ds)
		if k != c.k || d != c.d || (err != nil) != c.err {
			t.Errorf("pickGEMM(%q) = %v, %v, %v", c.want, k, d, err)
		}
	}
	if k, d, err := pickGEMM("avx512", false, []*microKernel{k2}, []*dotKernel{d2}); k != k2 || d != d2 || err == nil {
		t.Errorf("pickGEMM(avx512) on an AVX2-only CPU = %v, %v, %v; want the AVX2 kernels and an error", k, d, err)
	}
	if k, _, err := pickGEMM("", false, nil, nil); k != nil || err != nil {
		t.Errorf("pickGEMM without kernels = %v, %v", k, err)
	}
}

// TestKernelsAgree runs the same products through every GEMM path this
// CPU/build has (each asm micro-kernel and dot tile, the portable Go
// kernels, gonum) and requires pairwise agreement within twice the float32
// error bound, so AVX-512, AVX2 and pure Go are compared with each other
// directly, not only with the float64 reference.
func TestKernelsAgree(t *testing.T) {
	type path struct {
		name string
		f    func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
	}
	var paths []path
	for _, k := range testKernels() {
		paths = append(paths, path{k.name, driverFunc(k)})
	}
	for _, d := range append(asmDotTiles(), &dotKernel{name: "go-dot4x4", tm: 4, tn: 4, kstep: 16, fn: dotTileGo(4, 4)}) {
		paths = append(paths, path{d.name, func(ta, tb bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
			if ta || !tb {
				sgemmPacked(testKernels()[0], ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
				return
			}
			sgemmABt(d, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		}})
	}
	paths = append(paths, path{"gonum", func(ta, tb bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		tA, tB := blas.NoTrans, blas.NoTrans
		if ta {
			tA = blas.Trans
		}
		if tb {
			tB = blas.Trans
		}
		blas32.Implementation().Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}})
	var names []string
	for _, p := range paths {
		names = append(names, p.name)
	}
	t.Logf("comparing %s", strings.Join(names, ", "))
	for _, isa := range []string{"avx512", "avx2"} {
		found := false
		for _, n := range names {
			found = found || strings.HasPrefix(n, isa+"-")
		}
		if !found {
			t.Logf("%s kernels not compared: not available on this CPU/build", isa)
		}
	}
	rng := rand.New(rand.NewPCG(21, 22))
	const eps32 = 1.0 / (1 << 23)
	for it := 0; it < 60; it++ {
		tc := gemmCase{transA: rng.IntN(2) == 0, transB: rng.IntN(2) == 0,
			m: 1 + rng.IntN(40), n: 1 + rng.IntN(70), k: 1 + rng.IntN(600),
			alpha: float32(rng.NormFloat64()), beta: float32(rng.IntN(2)) * float32(rng.NormFloat64())}
		if it%3 == 0 {
			tc.transA, tc.transB = false, true // the dot tiles' case
		}
		ar, ac := tc.m, tc.k
		if tc.transA {
			ar, ac = tc.k, tc.m
		}
		br, bc := tc.k, tc.n
		if tc.transB {
			br, bc = tc.n, tc.k
		}
		a, b, c0 := randSlice(rng, ar*ac), randSlice(rng, br*bc), randSlice(rng, tc.m*tc.n)
		_, mag := refGemm(tc, a, ac, b, bc, c0, tc.n)
		outs := make([][]float32, len(paths))
		for i, p := range paths {
			outs[i] = slices.Clone(c0)
			p.f(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, ac, b, bc, tc.beta, outs[i], tc.n)
		}
		for i := 1; i < len(paths); i++ {
			for e := range outs[i] {
				tol := 4*float64(tc.k+2)*eps32*mag[e] + 1e-30
				if d := math.Abs(float64(outs[i][e]) - float64(outs[0][e])); !(d <= tol) {
					t.Fatalf("%+v: %s and %s differ at %d: %v vs %v (|diff| %.3g > %.3g)", tc, paths[0].name, paths[i].name, e, outs[0][e], outs[i][e], d, tol)
				}
			}
		}
	}
}

// BenchmarkGemm reports GFLOP/s of the engine's 1×1-conv GEMMs (through the
// parallel wrappers, Threads() workers) on supernet shapes, for every
// available micro-kernel side by side with gonum's blas32.
func BenchmarkGemm(b *testing.B) {
	type shape struct{ cin, cout, np int }
	shapes := []shape{{16, 48, 65536}, {48, 24, 65536}, {96, 32, 16384}, {192, 64, 4096}, {320, 1280, 1024}}
	type backend struct {
		name string
		kern *microKernel
		dot  *dotKernel
	}
	backends := []backend{{name: "gonum"}}
	for _, k := range asmKernels() {
		backends = append(backends, backend{name: k.name, kern: k})
		for _, d := range asmDotTiles() {
			backends = append(backends, backend{name: k.name + "+" + d.name, kern: k, dot: d})
		}
	}
	savedK, savedD := gemmKernel, gemmDotTile
	defer func() { gemmKernel, gemmDotTile = savedK, savedD }()
	pool := NewPool()
	rng := rand.New(rand.NewPCG(9, 10))
	for _, s := range shapes {
		w := randSlice(rng, s.cout*s.cin)
		x := randSlice(rng, s.cin*s.np)
		dy := randSlice(rng, s.cout*s.np)
		y := make([]float32, s.cout*s.np)
		dx := make([]float32, s.cin*s.np)
		dw := make([]float32, s.cout*s.cin)
		flops := 2 * float64(s.cin) * float64(s.cout) * float64(s.np)
		for _, be := range backends {
			name := be.name
			run := func(op string, f func()) {
				b.Run(fmt.Sprintf("%s/%s/%dx%dx%d", op, name, s.cin, s.cout, s.np), func(b *testing.B) {
					gemmKernel, gemmDotTile = be.kern, be.dot
					for i := 0; i < b.N; i++ {
						f()
					}
					b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
			run("fwd", func() { gemmSplitN(false, s.cout, s.np, s.cin, 1, w, s.cin, x, s.np, 0, y, s.np) })
			run("dx", func() { gemmSplitN(true, s.cin, s.np, s.cout, 1, w, s.cin, dy, s.np, 1, dx, s.np) })
			run("dw", func() { gemmABtAcc(s.cout, s.cin, s.np, 1, dy, s.np, x, s.np, dw, pool) })
		}
	}
}

// dotTileGo returns a portable tm×tn dot tile with the asm kernels'
// contract.
func dotTileGo(tm, tn int) dotTileFn {
	return func(a, b *[4]*float32, k int, out *[16]float32) {
		for i := 0; i < tm; i++ {
			as := unsafeSlice(a[i], k)
			for j := 0; j < tn; j++ {
				bs := unsafeSlice(b[j], k)
				var s float32
				for p := 0; p < k; p++ {
					s += as[p] * bs[p]
				}
				out[i*4+j] = s
			}
		}
	}
}

// TestSgemmABt checks the packing-free A·Bᵀ path (asm and Go tiles) on odd
// shapes, k tails and several k blocks, alpha/beta and strided operands.
func TestSgemmABt(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	tiles := append(asmDotTiles(), &dotKernel{name: "go-3x2", tm: 3, tn: 2, kstep: 4, fn: dotTileGo(3, 2)},
		&dotKernel{name: "go-4x4", tm: 4, tn: 4, kstep: 16, fn: dotTileGo(4, 4)})
	ab := [][2]float32{{1, 0}, {1, 1}, {-0.5, 2}, {0, 0.5}}
	for _, tile := range tiles {
		for it := 0; it < 150; it++ {
			tc := gemmCase{transB: true, m: 1 + rng.IntN(13), n: 1 + rng.IntN(13), k: rng.IntN(700),
				padA: rng.IntN(5), padB: rng.IntN(5), padC: rng.IntN(3)}
			if it%25 == 0 {
				tc.k = 3*1024 + rng.IntN(100) // several k blocks
			}
			p := ab[rng.IntN(len(ab))]
			tc.alpha, tc.beta = p[0], p[1]
			checkGemm(t, rng, "abt-"+tile.name, tc, func(ta, tb bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
				sgemmABt(tile, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
			})
		}
	}
}
