// Package generator trains the SGNAS architecture generator (reference
// §5.2) against a frozen supernet: the generator network on the training
// engine (Net), Gumbel-softmax sampling, the hard-constraint loss, Kendall's
// τ tracking, the Trainer and its checkpoints (SavePTH). Inference (loading a
// checkpoint, batched generation, repair, metrics, prior pool) is the
// top-level package github.com/sgnas/sgnas/generator, imported here as gen.
package generator
