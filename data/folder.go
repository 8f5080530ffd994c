package data

import (
	"bufio"
	"fmt"
	"image"
	_ "image/jpeg" // register JPEG decoding
	_ "image/png"  // register PNG decoding
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/image/draw"
)

// FolderOptions configures OpenFolder. Zero values select the defaults.
type FolderOptions struct {
	// Size is the output image size (default 224).
	Size int
	// ScaleMin is the lower bound of the RandomResizedCrop area scale (default 0.08;
	// the authors' search uses 0.2). The upper bound is 1.
	ScaleMin float64
	// Train is the training transform: "rrc" (default: RandomResizedCrop, ratio
	// 3/4–4/3, bilinear, + h-flip) or "resize-crop" (resize shorter side to
	// Size/0.875, random crop Size, + h-flip).
	Train string
}

// Folder is an ImageNet-style dataset: root/<class>/*.{jpg,jpeg,png}, classes being
// the sorted subfolder names. Images are decoded on every Get. The evaluation
// transform resizes the shorter side to floor(Size/0.875) (Catmull-Rom, i.e. bicubic)
// and centre-crops Size; both transforms normalise with ImageNetMean/ImageNetStd.
type Folder struct {
	root     string
	classes  []string
	files    []string
	labels   []int
	size     int
	scaleMin float64
	mode     string
}

// folderExts are the accepted image file extensions (case-insensitive).
var folderExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true}

// OpenFolder indexes root/<class>/ image files. Non-image files are ignored; a class
// folder without images is an error.
func OpenFolder(root string, opts FolderOptions) (*Folder, error) {
	f := &Folder{root: root, size: opts.Size, scaleMin: opts.ScaleMin, mode: opts.Train}
	if f.size == 0 {
		f.size = 224
	}
	if f.size < 1 {
		return nil, fmt.Errorf("folder dataset %s: image size %d: want a positive size", root, f.size)
	}
	if f.scaleMin == 0 {
		f.scaleMin = 0.08
	}
	if !(f.scaleMin > 0 && f.scaleMin <= 1) {
		return nil, fmt.Errorf("folder dataset %s: crop scale minimum %v: want a value in (0, 1]", root, f.scaleMin)
	}
	if f.mode == "" {
		f.mode = "rrc"
	}
	if f.mode != "rrc" && f.mode != "resize-crop" {
		return nil, fmt.Errorf("folder dataset %s: training transform %q: want \"rrc\" or \"resize-crop\"", root, f.mode)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("folder dataset: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			f.classes = append(f.classes, e.Name())
		}
	}
	sort.Strings(f.classes)
	if len(f.classes) == 0 {
		return nil, fmt.Errorf("folder dataset %s: no class subfolders (want %s/<class>/*.jpg|jpeg|png)", root, root)
	}
	for label, class := range f.classes {
		dir := filepath.Join(root, class)
		files, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("folder dataset: %w", err)
		}
		n := 0
		for _, e := range files {
			if e.IsDir() || !folderExts[strings.ToLower(filepath.Ext(e.Name()))] {
				continue
			}
			f.files = append(f.files, filepath.Join(dir, e.Name()))
			f.labels = append(f.labels, label)
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("folder dataset %s: class folder %q has no .jpg/.jpeg/.png images", root, class)
		}
	}
	return f, nil
}

// Len implements Dataset.
func (f *Folder) Len() int { return len(f.files) }

// Classes implements Dataset.
func (f *Folder) Classes() int { return len(f.classes) }

// ClassNames returns the class folder names; label i is ClassNames()[i].
func (f *Folder) ClassNames() []string { return append([]string(nil), f.classes...) }

// Path returns the file of sample i.
func (f *Folder) Path(i int) string { return f.files[i] }

// Shape implements Dataset.
func (f *Folder) Shape() (c, h, w int) { return 3, f.size, f.size }

// Label implements Dataset.
func (f *Folder) Label(i int) int { return f.labels[i] }

// Get implements Dataset.
func (f *Folder) Get(i int, rng *rand.Rand, train bool, dst []float32) (int, error) {
	if err := checkIndex("folder dataset", i, f.Len()); err != nil {
		return 0, err
	}
	if err := checkDst("folder dataset", dst, 3, f.size, f.size); err != nil {
		return 0, err
	}
	if train && rng == nil {
		return 0, fmt.Errorf("folder dataset: training transform of %s needs a random generator", f.files[i])
	}
	src, err := decodeImage(f.files[i])
	if err != nil {
		return 0, err
	}
	var out *image.RGBA
	flip := false
	switch {
	case train && f.mode == "rrc":
		crop := randomResizedCrop(rng, src.Bounds(), f.scaleMin, 1, 3.0/4, 4.0/3)
		out = image.NewRGBA(image.Rect(0, 0, f.size, f.size))
		draw.BiLinear.Scale(out, out.Bounds(), src, crop, draw.Src, nil)
		flip = rng.IntN(2) == 1
	case train: // resize-crop
		resized := resizeShorter(src, evalResize(f.size), draw.BiLinear)
		b := resized.Bounds()
		top := rng.IntN(b.Dy() - f.size + 1)
		left := rng.IntN(b.Dx() - f.size + 1)
		out = resized.SubImage(image.Rect(left, top, left+f.size, top+f.size)).(*image.RGBA)
		flip = rng.IntN(2) == 1
	default:
		resized := resizeShorter(src, evalResize(f.size), draw.CatmullRom)
		b := resized.Bounds()
		top := int(math.RoundToEven(float64(b.Dy()-f.size) / 2))
		left := int(math.RoundToEven(float64(b.Dx()-f.size) / 2))
		out = resized.SubImage(image.Rect(left, top, left+f.size, top+f.size)).(*image.RGBA)
	}
	rgbaToCHW(out, flip, imagenetLUT, dst)
	return f.labels[i], nil
}

// evalResize is the shorter-side size before a centre crop of s: floor(s/0.875).
func evalResize(s int) int { return int(float64(s) / 0.875) }

// decodeImage reads and decodes a JPEG or PNG file.
func decodeImage(path string) (image.Image, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("folder dataset: %w", err)
	}
	defer fh.Close()
	img, format, err := image.Decode(bufio.NewReader(fh))
	if err != nil {
		return nil, fmt.Errorf("folder dataset: decode %s: %w", path, err)
	}
	if b := img.Bounds(); b.Dx() < 1 || b.Dy() < 1 {
		return nil, fmt.Errorf("folder dataset: decode %s: empty %s image", path, format)
	}
	return img, nil
}

// resizeShorter scales img so its shorter side is s (the longer side scaled in
// proportion and truncated, as torchvision does) into a new RGBA image at the origin.
func resizeShorter(img image.Image, s int, q draw.Interpolator) *image.RGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	var nw, nh int
	if w <= h {
		nw, nh = s, int(float64(s)*float64(h)/float64(w))
	} else {
		nw, nh = int(float64(s)*float64(w)/float64(h)), s
	}
	nw, nh = max(nw, s), max(nh, s)
	out := image.NewRGBA(image.Rect(0, 0, nw, nh))
	q.Scale(out, out.Bounds(), img, b, draw.Src, nil)
	return out
}

// randomResizedCrop picks a crop rectangle of b the way torchvision's
// RandomResizedCrop.get_params does: up to 10 tries of a random area fraction in
// [scaleMin, scaleMax] and log-uniform aspect ratio in [ratioMin, ratioMax], falling
// back to a centre crop with the ratio clamped into range.
func randomResizedCrop(rng *rand.Rand, b image.Rectangle, scaleMin, scaleMax, ratioMin, ratioMax float64) image.Rectangle {
	W, H := b.Dx(), b.Dy()
	area := float64(W * H)
	lr0, lr1 := math.Log(ratioMin), math.Log(ratioMax)
	for attempt := 0; attempt < 10; attempt++ {
		target := area * (scaleMin + rng.Float64()*(scaleMax-scaleMin))
		ratio := math.Exp(lr0 + rng.Float64()*(lr1-lr0))
		w := int(math.RoundToEven(math.Sqrt(target * ratio)))
		h := int(math.RoundToEven(math.Sqrt(target / ratio)))
		if w > 0 && w <= W && h > 0 && h <= H {
			top := rng.IntN(H - h + 1)
			left := rng.IntN(W - w + 1)
			return image.Rect(b.Min.X+left, b.Min.Y+top, b.Min.X+left+w, b.Min.Y+top+h)
		}
	}
	in := float64(W) / float64(H)
	w, h := W, H
	if in < ratioMin {
		h = int(math.RoundToEven(float64(w) / ratioMin))
	} else if in > ratioMax {
		w = int(math.RoundToEven(float64(h) * ratioMax))
	}
	w, h = max(1, min(w, W)), max(1, min(h, H))
	top, left := (H-h)/2, (W-w)/2
	return image.Rect(b.Min.X+left, b.Min.Y+top, b.Min.X+left+w, b.Min.Y+top+h)
}

// rgbaToCHW writes the RGB channels of img (optionally mirrored left-right) into dst
// in CHW order, normalised through lut.
func rgbaToCHW(img *image.RGBA, flip bool, lut *normLUT, dst []float32) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	for y := 0; y < h; y++ {
		row := img.Pix[img.PixOffset(b.Min.X, b.Min.Y+y):]
		for x := 0; x < w; x++ {
			sx := x
			if flip {
				sx = w - 1 - x
			}
			p := row[4*sx : 4*sx+3]
			for c := 0; c < 3; c++ {
				dst[(c*h+y)*w+x] = lut[c][p[c]]
			}
		}
	}
}
