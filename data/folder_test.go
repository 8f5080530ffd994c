package data

import (
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

func writeJPEG(t *testing.T, path string, img image.Image) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := jpeg.Encode(f, img, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
}

func solid(w, h int, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

// halves is red on the left half and blue on the right half.
func halves(w, h int) *image.RGBA {
	img := solid(w, h, color.RGBA{255, 0, 0, 255})
	for y := 0; y < h; y++ {
		for x := w / 2; x < w; x++ {
			img.SetRGBA(x, y, color.RGBA{0, 0, 255, 255})
		}
	}
	return img
}

func mkdirs(t *testing.T, dirs ...string) {
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// norm is the ImageNet normalisation of byte value v in channel c.
func norm(c int, v float64) float64 {
	mean := []float64{0.485, 0.456, 0.406}
	std := []float64{0.229, 0.224, 0.225}
	return (v/255 - mean[c]) / std[c]
}

// pixel returns channel values of dst (3×s×s) at (y, x) un-normalised to bytes.
func pixel(dst []float32, s, y, x int) [3]float64 {
	mean := []float64{0.485, 0.456, 0.406}
	std := []float64{0.229, 0.224, 0.225}
	var p [3]float64
	for c := 0; c < 3; c++ {
		p[c] = (float64(dst[(c*s+y)*s+x])*std[c] + mean[c]) * 255
	}
	return p
}

func TestFolder(t *testing.T) {
	root := t.TempDir()
	cat, dog := filepath.Join(root, "cat"), filepath.Join(root, "dog")
	mkdirs(t, cat, dog, filepath.Join(root, ".hidden"))
	writePNG(t, filepath.Join(cat, "a.png"), solid(40, 30, color.RGBA{200, 100, 50, 255}))
	writeJPEG(t, filepath.Join(cat, "b.JPG"), solid(25, 50, color.RGBA{20, 180, 90, 255}))
	writePNG(t, filepath.Join(dog, "c.png"), halves(64, 32))
	os.WriteFile(filepath.Join(dog, "notes.txt"), []byte("not an image"), 0o644)
	corrupt := filepath.Join(dog, "d.jpeg")
	os.WriteFile(corrupt, []byte("\xff\xd8\xff\xe0 this is not really a jpeg"), 0o644)

	ds, err := Open("folder", root, Options{Size: 16})
	if err != nil {
		t.Fatal(err)
	}
	f := ds.(*Folder)
	if ds.Len() != 4 || ds.Classes() != 2 {
		t.Fatalf("len %d classes %d, want 4 2", ds.Len(), ds.Classes())
	}
	if n := f.ClassNames(); n[0] != "cat" || n[1] != "dog" {
		t.Fatalf("classes %v", n)
	}
	for i, want := range []int{0, 0, 1, 1} {
		if ds.Label(i) != want {
			t.Errorf("label %d (%s) = %d, want %d", i, f.Path(i), ds.Label(i), want)
		}
	}
	if c, h, w := ds.Shape(); c != 3 || h != 16 || w != 16 {
		t.Fatalf("shape %d %d %d", c, h, w)
	}

	// A solid PNG stays exactly its colour under both transforms.
	for _, train := range []bool{false, true} {
		img, label, err := sampleOf(ds, 0, rand.New(rand.NewPCG(1, 2)), train)
		if err != nil {
			t.Fatal(err)
		}
		if label != 0 {
			t.Fatalf("label %d", label)
		}
		for k, v := range img {
			c := k / 256
			want := norm(c, []float64{200, 100, 50}[c])
			if math.Abs(float64(v)-want) > 1.01/255/0.224 {
				t.Fatalf("train=%v value %d = %v, want %v", train, k, v, want)
			}
		}
	}
	// The solid JPEG stays within JPEG rounding of its colour.
	img, _, err := sampleOf(ds, 1, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	for y := 0; y < 16; y++ {
		for x := 0; x < 16; x++ {
			p := pixel(img, 16, y, x)
			for c, want := range []float64{20, 180, 90} {
				if math.Abs(p[c]-want) > 4 {
					t.Fatalf("jpeg pixel (%d,%d) channel %d = %.1f, want %v±4", y, x, c, p[c], want)
				}
			}
		}
	}

	// Evaluation geometry: 64×32 → shorter side 18 (36×18) → centre crop 16 at
	// x 10..25: 8 red then 8 blue columns.
	img, _, err = sampleOf(ds, 2, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	for y := 0; y < 16; y++ {
		for x := 0; x < 16; x++ {
			p := pixel(img, 16, y, x)
			red := p[0] > 250 && p[2] < 5
			blue := p[2] > 250 && p[0] < 5
			if x < 6 && !red || x >= 10 && !blue {
				t.Fatalf("eval pixel (%d,%d) = %v, want red left of column 8, blue right", y, x, p)
			}
		}
	}

	// Corrupt image: a clear error naming the file.
	_, _, err = sampleOf(ds, 3, nil, false)
	if err == nil || !strings.Contains(err.Error(), "decode "+corrupt) {
		t.Fatalf("corrupt image error: %v", err)
	}
}

// TestFolderFlip uses a 4:3 image with crop scale 1, where RandomResizedCrop falls
// back to the whole image: the left columns are red unless the sample is flipped.
func TestFolderFlip(t *testing.T) {
	root := t.TempDir()
	mkdirs(t, filepath.Join(root, "a"))
	writePNG(t, filepath.Join(root, "a", "x.png"), halves(64, 48))
	ds, err := OpenFolder(root, FolderOptions{Size: 8, ScaleMin: 1})
	if err != nil {
		t.Fatal(err)
	}
	flips := 0
	for s := 0; s < 100; s++ {
		img, _, err := sampleOf(ds, 0, rand.New(rand.NewPCG(uint64(s), 0)), true)
		if err != nil {
			t.Fatal(err)
		}
		left, right := pixel(img, 8, 4, 0), pixel(img, 8, 4, 7)
		switch {
		case left[0] > 250 && right[2] > 250:
		case left[2] > 250 && right[0] > 250:
			flips++
		default:
			t.Fatalf("draw %d: left %v right %v: want the whole image, maybe mirrored", s, left, right)
		}
	}
	if flips < 25 || flips > 75 {
		t.Errorf("%d flips in 100 draws", flips)
	}
}

func TestRandomResizedCrop(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	b := image.Rect(10, 20, 310, 220) // 300×200
	for k := 0; k < 2000; k++ {
		c := randomResizedCrop(r, b, 0.2, 1, 3.0/4, 4.0/3)
		if !c.In(b) || c.Empty() {
			t.Fatalf("crop %v not inside %v", c, b)
		}
		area := float64(c.Dx()*c.Dy()) / float64(b.Dx()*b.Dy())
		ratio := float64(c.Dx()) / float64(c.Dy())
		if area < 0.2-0.02 || area > 1 || ratio < 0.75-0.02 || ratio > 4.0/3+0.02 {
			t.Fatalf("crop %v: area fraction %.3f ratio %.3f outside [0.2,1]×[3/4,4/3]", c, area, ratio)
		}
	}
	// Impossible constraints fall back to a centred crop with the ratio clamped.
	c := randomResizedCrop(r, image.Rect(0, 0, 100, 10), 0.9, 1, 3.0/4, 4.0/3)
	if c != image.Rect(43, 0, 56, 10) {
		t.Fatalf("fallback crop %v, want (43,0)-(56,10)", c)
	}
}

func TestFolderErrors(t *testing.T) {
	root := t.TempDir()
	if _, err := OpenFolder(root, FolderOptions{}); err == nil || !strings.Contains(err.Error(), "no class subfolders") {
		t.Fatalf("empty root: %v", err)
	}
	mkdirs(t, filepath.Join(root, "a"), filepath.Join(root, "b"))
	writePNG(t, filepath.Join(root, "a", "x.png"), solid(4, 4, color.RGBA{1, 2, 3, 255}))
	if _, err := OpenFolder(root, FolderOptions{}); err == nil || !strings.Contains(err.Error(), `class folder "b" has no`) {
		t.Fatalf("empty class: %v", err)
	}
	if _, err := OpenFolder(filepath.Join(root, "missing"), FolderOptions{}); err == nil {
		t.Fatal("missing root: no error")
	}
	if _, err := OpenFolder(root, FolderOptions{Train: "bogus"}); err == nil {
		t.Fatal("bad transform: no error")
	}
}

func TestFolderResizeCrop(t *testing.T) {
	root := t.TempDir()
	mkdirs(t, filepath.Join(root, "a"))
	writePNG(t, filepath.Join(root, "a", "x.png"), solid(50, 70, color.RGBA{10, 20, 30, 255}))
	ds, err := OpenFolder(root, FolderOptions{Size: 32, Train: "resize-crop"})
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := sampleOf(ds, 0, rand.New(rand.NewPCG(5, 6)), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(img) != 3*32*32 {
		t.Fatalf("len %d", len(img))
	}
	p := pixel(img, 32, 31, 31)
	if math.Abs(p[0]-10) > 1 || math.Abs(p[1]-20) > 1 || math.Abs(p[2]-30) > 1 {
		t.Fatalf("pixel %v, want (10,20,30)", p)
	}
}
