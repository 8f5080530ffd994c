package evaluate

import (
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sgnas/sgnas/data"
	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/infer"
	"github.com/sgnas/sgnas/internal/fsutil"
	"github.com/sgnas/sgnas/internal/orttest"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/tensor"
	"github.com/sgnas/sgnas/weights"
)

// exportModel writes a seeded model of space with classes outputs.
func exportModel(t testing.TB, dir, space string, classes int, seed int64) string {
	t.Helper()
	a := &models.Arch{Space: space, Layers: make([]models.Layer, models.NumLayers)}
	for l := range a.Layers {
		a.Layers[l].Kernels = []int{3, 5, 7}[:1+(l+int(seed))%3]
	}
	opts := models.DefaultOptions(models.MustSpace(space))
	opts.Classes = classes
	net, err := models.Build(a, opts)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, space+".onnx")
	if _, err := export.WriteFile(path, net, weights.Init(net.Tensors(), seed), export.DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	return path
}

// direct computes every image's top-1 class and whether its label is among
// the k largest outputs, one image per ONNX Runtime run, by a stable sort
// of the outputs.
func direct(t *testing.T, model string, ds data.Dataset, n int) (top1 []int, inTop []bool) {
	t.Helper()
	s, err := infer.NewSession(model, infer.DefaultSessionOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, h, w := ds.Shape()
	for i := 0; i < n; i++ {
		x := tensor.New(1, c, h, w)
		label, err := ds.Get(i, nil, false, x.Data)
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Run(context.Background(), x)
		if err != nil {
			t.Fatal(err)
		}
		row := out[0].Data
		order := make([]int, len(row))
		for j := range order {
			order[j] = j
		}
		sort.SliceStable(order, func(a, b int) bool { return row[order[a]] > row[order[b]] })
		top1 = append(top1, order[0])
		hit := false
		for _, j := range order[:min(5, len(row))] {
			hit = hit || j == label
		}
		inTop = append(inTop, hit)
	}
	return top1, inTop
}

func check(t *testing.T, res *Result, top1 []int, inTop []bool, ds data.Dataset) {
	t.Helper()
	if res.Images != len(top1) || len(res.Predictions) != len(top1) {
		t.Fatalf("%d images, %d predictions, want %d", res.Images, len(res.Predictions), len(top1))
	}
	c1, c5 := 0, 0
	for i, p := range res.Predictions {
		if p.Index != i || p.Label != ds.Label(i) || p.Top1 != top1[i] || p.InTop != inTop[i] {
			t.Fatalf("image %d: %+v, direct top-1 %d in-top-5 %v label %d", i, p, top1[i], inTop[i], ds.Label(i))
		}
		if top1[i] == ds.Label(i) {
			c1++
		}
		if inTop[i] {
			c5++
		}
	}
	if res.Correct1 != c1 || res.Correct5 != c5 || res.Top1 != float64(c1)/float64(len(top1)) || res.Top5 != float64(c5)/float64(len(top1)) {
		t.Fatalf("result %d/%d (%v, %v), direct %d/%d", res.Correct1, res.Correct5, res.Top1, res.Top5, c1, c5)
	}
	if c5 == 0 || c5 == len(top1) {
		t.Logf("note: top-5 %d of %d", c5, len(top1))
	}
}

// TestMatchesDirect compares Run with a direct computation on the same
// preprocessed images, image by image, over batch sizes that leave a
// partial last batch.
func TestMatchesDirect(t *testing.T) {
	orttest.Need(t)
	dir := t.TempDir()
	model := exportModel(t, dir, "cifar10", 10, 3)
	ds, err := data.Open("synthetic", "", data.Options{Split: "test", Size: 32})
	if err != nil {
		t.Fatal(err)
	}
	const n = 37
	top1, inTop := direct(t, model, ds, n)
	for _, batch := range []int{1, 8} {
		res, err := Run(context.Background(), Config{Model: model, Dataset: "synthetic", Batch: batch, Limit: n, Threads: 1, KeepPredictions: true})
		if err != nil {
			t.Fatal(err)
		}
		check(t, res, top1, inTop, ds)
		if res.Classes != 10 || res.Batch != batch || res.Split != "test" || res.ImagesPerSec <= 0 {
			t.Fatalf("result %+v", res)
		}
	}
}

// TestFolderImageNet evaluates an ImageNet-space model on a class-folder
// dataset (resize 256 bicubic, centre crop 224).
func TestFolderImageNet(t *testing.T) {
	orttest.Need(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "val")
	for c, class := range []string{"b_cat", "a_dog", "c_fox"} {
		os.MkdirAll(filepath.Join(root, class), 0o755)
		for k := 0; k < 2; k++ {
			img := image.NewRGBA(image.Rect(0, 0, 300+40*k, 260))
			for y := 0; y < 260; y++ {
				for x := 0; x < 300+40*k; x++ {
					img.Set(x, y, color.RGBA{uint8(x*(c+1) + y), uint8(y * (k + 2)), uint8(60 * c), 255})
				}
			}
			f, _ := os.Create(filepath.Join(root, class, string(rune('0'+k))+".png"))
			png.Encode(f, img)
			f.Close()
		}
	}
	model := exportModel(t, dir, "imagenet", 3, 5)
	ds, err := data.OpenFolder(root, data.FolderOptions{Size: 224})
	if err != nil {
		t.Fatal(err)
	}
	if names := ds.ClassNames(); names[0] != "a_dog" || names[2] != "c_fox" {
		t.Fatalf("class order %v", names)
	}
	top1, inTop := direct(t, model, ds, ds.Len())
	res, err := Run(context.Background(), Config{Model: model, Dataset: "folder", Data: root, Batch: 4, Threads: 1, KeepPredictions: true})
	if err != nil {
		t.Fatal(err)
	}
	check(t, res, top1, inTop, ds)
	if res.Correct5 != res.Images { // 3 classes: the label is always among the top 5
		t.Fatalf("top-5 %d of %d with 3 classes", res.Correct5, res.Images)
	}
}

func TestBadInputs(t *testing.T) {
	orttest.Need(t)
	dir := t.TempDir()
	imagenet := exportModel(t, dir, "imagenet", 10, 1)
	five := exportModel(t, t.TempDir(), "cifar10", 5, 2)
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"imagenet on fashion-mnist", Config{Model: imagenet, Dataset: "fashion-mnist", Data: data.FashionMNISTDir}, "takes 3×224×224 images, dataset fashion-mnist gives 3×32×32"},
		{"labels out of range", Config{Model: five, Dataset: "synthetic"}, "has 10 classes, model " + five + " outputs 5"},
		{"missing model", Config{Model: filepath.Join(dir, "none.onnx"), Dataset: "synthetic"}, "does not exist"},
		{"bad batch", Config{Model: five, Dataset: "synthetic", Batch: -2}, "batch -2"},
		{"batch too large", Config{Model: imagenet, Dataset: "synthetic", Batch: 4000}, "use a smaller batch"},
		{"bad limit", Config{Model: five, Dataset: "synthetic", Limit: -1}, "limit -1"},
		{"bad dataset", Config{Model: five, Dataset: "mnist"}, `dataset kind "mnist"`},
		{"missing folder", Config{Model: imagenet, Dataset: "folder", Data: filepath.Join(dir, "nope")}, "nope"},
		{"cuda", Config{Model: five, Dataset: "synthetic", EP: "cuda"}, "CUDA"},
	} {
		_, err := Run(context.Background(), c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line with %q", c.name, err, c.want)
		}
	}
}

func TestRecordInManifest(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "runs", "r1")
	os.MkdirAll(run, 0o755)
	model := filepath.Join(run, "m.onnx")
	os.WriteFile(model, []byte("model bytes"), 0o644)
	sum, _ := export.FileSHA256(model)
	m := export.Manifest{Version: 1, Metric: "full", Models: []export.ManifestEntry{
		{File: "other.onnx", SHA256: "x", Arch: "3-3"},
		{File: "m.onnx", SHA256: sum, Arch: "5-5", Classes: 10},
	}}
	if err := m.Save(filepath.Join(run, ManifestName)); err != nil {
		t.Fatal(err)
	}
	// sgnas-export's layout: links in the output folder.
	os.Symlink(filepath.Join("runs", "r1", ManifestName), filepath.Join(dir, ManifestName))
	os.Symlink(filepath.Join("runs", "r1", "m.onnx"), filepath.Join(dir, "m.onnx"))
	before, _ := os.ReadFile(filepath.Join(run, ManifestName))

	ev := export.Evaluation{Dataset: "fashion-mnist", Split: "test", Images: 100, Top1: 0.5, Top5: 0.9, EP: "cpu"}
	rec, err := RecordInManifest(filepath.Join(dir, "m.onnx"), ev)
	if err != nil || !rec.Updated {
		t.Fatalf("%+v, %v", rec, err)
	}
	if fi, _ := os.Lstat(filepath.Join(dir, ManifestName)); fi.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the manifest link was replaced by a file")
	}
	got, err := export.LoadManifest(filepath.Join(dir, ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Models[1].Evaluations) != 1 || got.Models[1].Evaluations[0] != ev || len(got.Models[0].Evaluations) != 0 {
		t.Fatalf("entries %+v", got.Models)
	}
	// Everything else is kept: without the evaluation it is the old file.
	got.Models[1].Evaluations = nil
	again, _ := json.MarshalIndent(got, "", "  ")
	if string(append(again, '\n')) != string(before) {
		t.Fatalf("manifest changed beyond the evaluation:\n%s\nwas\n%s", again, before)
	}
	// The same dataset again replaces; another split adds.
	ev.Top1 = 0.6
	RecordInManifest(model, ev)
	ev2 := ev
	ev2.Split = "train"
	RecordInManifest(model, ev2)
	got, _ = export.LoadManifest(filepath.Join(run, ManifestName))
	if e := got.Models[1].Evaluations; len(e) != 2 || e[0].Top1 != 0.6 || e[1].Split != "train" {
		t.Fatalf("evaluations %+v", e)
	}

	// Unknown fields survive.
	raw := `{"version": 1, "future": {"a": [1, 2]}, "models": [{"file": "m.onnx", "sha256": "` + sum + `", "note": "keep"}]}`
	os.WriteFile(filepath.Join(run, ManifestName), []byte(raw), 0o644)
	if rec, err := RecordInManifest(model, ev); err != nil || !rec.Updated {
		t.Fatalf("%+v, %v", rec, err)
	}
	var generic map[string]any
	b, _ := os.ReadFile(filepath.Join(run, ManifestName))
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	entry := generic["models"].([]any)[0].(map[string]any)
	if generic["future"] == nil || entry["note"] != "keep" || entry["evaluations"] == nil {
		t.Fatalf("unknown fields lost: %s", b)
	}

	// A changed model is not recorded; no manifest is no error.
	os.WriteFile(model, []byte("changed"), 0o644)
	if rec, err := RecordInManifest(model, ev); err != nil || rec.Updated || !strings.Contains(rec.Note, "another sha256") {
		t.Fatalf("%+v, %v", rec, err)
	}
	lone := filepath.Join(t.TempDir(), "x.onnx")
	os.WriteFile(lone, nil, 0o644)
	if rec, err := RecordInManifest(lone, ev); err != nil || rec.Updated || rec.Manifest != "" {
		t.Fatalf("%+v, %v", rec, err)
	}
	// A broken manifest is one error line.
	os.WriteFile(filepath.Join(run, ManifestName), []byte("{"), 0o644)
	if _, err := RecordInManifest(model, ev); err == nil || !strings.Contains(err.Error(), ManifestName) {
		t.Fatalf("broken manifest: %v", err)
	}
}

// TestRecordWaitsForExportLock: while an sgnas-export run holds the output
// folder's lock, recording waits (bounded) and then says so in one line.
func TestRecordWaitsForExportLock(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "runs", "r1")
	os.MkdirAll(run, 0o755)
	model := filepath.Join(run, "m.onnx")
	os.WriteFile(model, []byte("model bytes"), 0o644)
	sum, _ := export.FileSHA256(model)
	m := export.Manifest{Version: 1, Models: []export.ManifestEntry{{File: "m.onnx", SHA256: sum}}}
	if err := m.Save(filepath.Join(run, ManifestName)); err != nil {
		t.Fatal(err)
	}
	held, err := fsutil.LockFile(filepath.Join(dir, export.OutputLockName), 0)
	if err != nil {
		t.Fatal(err)
	}
	old := ManifestLockWait
	ManifestLockWait = 200 * time.Millisecond
	defer func() { ManifestLockWait = old }()
	ev := export.Evaluation{Dataset: "fashion-mnist", Split: "test", Images: 1, Top1: 1, Top5: 1, EP: "cpu"}
	if _, err := RecordInManifest(model, ev); err == nil || !strings.Contains(err.Error(), "sgnas-export run") {
		t.Fatalf("recorded under a held lock: %v", err)
	}
	// Released during the wait: recorded.
	ManifestLockWait = 5 * time.Second
	go func() { time.Sleep(100 * time.Millisecond); held.Close() }()
	if rec, err := RecordInManifest(model, ev); err != nil || !rec.Updated {
		t.Fatalf("%+v, %v", rec, err)
	}
}
