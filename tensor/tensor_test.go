package tensor

import "testing"

func TestTensor(t *testing.T) {
	a := New(2, 3)
	if a.Numel() != 6 || len(a.Data) != 6 || a.ShapeString() != "[2 3]" {
		t.Fatalf("New(2, 3) = %+v", a)
	}
	a.Data[4] = 7
	b := a.Clone()
	b.Data[4] = 1
	b.Shape[0] = 9
	if a.Data[4] != 7 || a.Shape[0] != 2 {
		t.Fatal("Clone shares memory")
	}
	a.Zero()
	if a.Data[4] != 0 {
		t.Fatal("Zero left a value")
	}
	if s := New(); s.Numel() != 1 || len(s.Data) != 1 {
		t.Fatalf("scalar %+v", s)
	}
	d := []float32{1, 2, 3, 4}
	if c := FromData(d, 2, 2); &c.Data[0] != &d[0] {
		t.Fatal("FromData copied")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("FromData accepted 4 values for shape [3]")
		}
	}()
	FromData(d, 3)
}
