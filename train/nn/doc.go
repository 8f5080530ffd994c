// Package nn is sgnas's training engine: float32 NCHW kernels (dense and
// depthwise convolution, BatchNorm, ReLU6, h-swish, h-sigmoid, global average
// pooling, linear layers, label-smoothed cross-entropy) with hand-written
// forward and backward passes, exposed two ways:
//
//   - as gorgonia.Op implementations (subpackage gorgoniaop: NewConv2dOp and
//     friends) that can be placed in a gorgonia ExprGraph, differentiated
//     symbolically with gorgonia.Grad and run on a TapeMachine (kept out of
//     this package so the engine links without gorgonia);
//   - as an eager, define-by-run Tape (tape.go) on which a network whose
//     structure changes every step (a supernet path) is run forward and then
//     backward without building or compiling a graph. This is the fast path
//     used by training.
//
// Parameters live in a named Store (names are the authors' PyTorch
// state-dict names); SGD (with momentum and weight decay, PyTorch semantics),
// Adam and cosine learning-rate schedules update them. See docs/training.md.
package nn
