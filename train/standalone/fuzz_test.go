package standalone

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sgnas/sgnas/supernetckpt"
	"github.com/sgnas/sgnas/weights"
)

// FuzzCheckpointState feeds arbitrary training states (the JSON header
// part of last.ckpt / best.ckpt) to the checkpoint reader: it returns a
// checkpoint with a valid architecture and classes, or one error line
// naming the file.
func FuzzCheckpointState(f *testing.F) {
	cfg, _ := Recipe("imagenet")
	cfg.Arch = tinyArch()
	good, _ := json.Marshal(&Checkpoint{Kind: checkpointKind, Config: cfg, Classes: 10, BestEpoch: -1})
	f.Add(good)
	f.Add([]byte(`{"kind":"standalone","classes":10,"config":{"arch":{"space":"cifar10","layers":[]}}}`))
	f.Add([]byte(`{"kind":"standalone","classes":-1}`))
	f.Add([]byte(`{"config":{"space":"cifar10"},"classes":10}`))
	model := weights.StateDict{"w": {Shape: []int{2}, Data: []float32{1, 2}}}
	f.Fuzz(func(t *testing.T, state []byte) {
		ck, err := checkpointOf("fuzz.ckpt", &supernetckpt.File{State: state, Model: model, Optim: weights.StateDict{}})
		if err != nil {
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "fuzz.ckpt") {
				t.Fatalf("error %q: want one line naming the file", msg)
			}
			return
		}
		if ck.Config.Arch == nil || ck.Config.Arch.Validate() != nil || ck.Classes < 1 {
			t.Fatalf("accepted a checkpoint without a valid architecture or classes: %+v", ck)
		}
	})
}
