package profplot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgnas/sgnas/profiles"
)

func TestWritePlot(t *testing.T) {
	r := &profiles.CheckResult{Network: profiles.Network{Space: "imagenet"}}
	for i := 0; i < 20; i++ {
		p := 10 + float64(i)/2
		r.Models = append(r.Models, profiles.CheckModel{PredictedMS: p, MeasuredMS: p * (1 + 0.01*float64(i%5-2))})
	}
	svg := filepath.Join(t.TempDir(), "check.svg")
	if err := WritePlot(svg, r); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(svg); !strings.Contains(string(b), "<svg") {
		t.Fatal("no svg")
	}
	if err := WritePlot(filepath.Join(t.TempDir(), "check.png"), r); err != nil {
		t.Fatal(err)
	}
	if err := WritePlot(filepath.Join(t.TempDir(), "check.gif"), r); err == nil {
		t.Fatal("gif accepted")
	}
}
