package models

import "testing"

func TestDefaultOptions(t *testing.T) {
	im := DefaultOptions(MustSpace("imagenet"))
	if !im.SE || im.Act != HSwish || im.Classes != 1000 {
		t.Errorf("imagenet defaults %+v, want the paper's models (SE, h-swish, 1000 classes)", im)
	}
	for _, name := range []string{"cifar10", "cifar100"} {
		s := MustSpace(name)
		c := DefaultOptions(s)
		if c.SE || c.Act != ReLU6 || c.Classes != s.Classes {
			t.Errorf("%s defaults %+v, want no SE, ReLU6, %d classes", name, c, s.Classes)
		}
	}
}
