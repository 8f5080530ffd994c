package infer

import (
	"math"
	"testing"
)

const traceSample = `[
{"cat":"Session","name":"model_run","dur":900,"args":{}},
{"cat":"Node","name":"Conv_0_kernel_time","dur":300,"args":{"op_name":"QLinearConv"}},
{"cat":"Node","name":"Conv_0_fence_before","dur":1,"args":{"op_name":"QLinearConv"}},
{"cat":"Node","name":"Conv_1_kernel_time","dur":100,"args":{"op_name":"QLinearConv"}},
{"cat":"Node","name":"Conv_0_kernel_time","dur":200,"args":{"op_name":"QLinearConv"}},
{"cat":"Node","name":"Mul_3_kernel_time","dur":50,"args":{"op_name":"Mul"}}
]`

// TestParseOpProfile: kernel times summed per op (fences and session
// events ignored), distinct nodes counted, largest first.
func TestParseOpProfile(t *testing.T) {
	ops, err := ParseOpProfile([]byte(traceSample))
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 2 || ops[0].Op != "QLinearConv" || ops[0].Nodes != 2 || math.Abs(ops[0].MS-0.6) > 1e-12 ||
		ops[1].Op != "Mul" || ops[1].Nodes != 1 || math.Abs(ops[1].MS-0.05) > 1e-12 {
		t.Fatalf("%+v", ops)
	}
	if _, err := ParseOpProfile([]byte(`{"not": "a trace"}`)); err == nil {
		t.Fatal("object accepted as a trace")
	}
}

// FuzzParseOpProfile: arbitrary bytes give a result or an error, never a
// panic, and times are never negative-count garbage.
func FuzzParseOpProfile(f *testing.F) {
	f.Add([]byte(traceSample))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"cat":"Node","name":"x_kernel_time","dur":1e308,"args":{"op_name":"A"}},{"cat":"Node","name":"x_kernel_time","dur":1e308,"args":{"op_name":"A"}}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ops, err := ParseOpProfile(b)
		if err != nil {
			return
		}
		for _, o := range ops {
			if o.Nodes < 1 || o.Op == "" {
				t.Fatalf("%+v", o)
			}
		}
	})
}
