package supernetckpt

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/weights"
)

// Tensors lists the tensors of the unified supernet of space with classes
// outputs under the authors' state-dict names, as train/supernet allocates
// them (parameters and BN running statistics):
//
//	first.conv.weight, first.bn.*, first_mb.depthwise.blocks.0.weight,
//	first_mb.depthwise.bn.*, first_mb.point_wise_1.conv.weight, first_mb.point_wise_1.bn.*
//	stages.{l}.point_wise.conv.weight (6C,C,1,1), stages.{l}.point_wise.bn.*
//	stages.{l}.depthwise.blocks.{b}.blocks.{j}.conv.weight (C,1,k,k), ….bn.*
//	stages.{l}.point_wise_1.conv.weight (C',6C,1,1), stages.{l}.sbn.{s}.*
//	last_stage.0.weight, last_stage.1.*, classifier.weight, classifier.bias
//
// The authors' skip candidates (stages.{l}.depthwise.blocks.{b}.blocks.3.weight,
// whose output is multiplied by 0) are not part of it.
func Tensors(space *models.Space, classes int) []models.TensorSpec {
	var specs []models.TensorSpec
	conv := func(name string, shape ...int) {
		specs = append(specs, models.TensorSpec{Name: name, Shape: shape, Kind: models.ConvWeight})
	}
	bn := func(prefix string, c int) {
		for _, k := range []struct {
			suf  string
			kind models.TensorKind
		}{{".weight", models.BNWeight}, {".bias", models.BNBias}, {".running_mean", models.BNMean}, {".running_var", models.BNVar}} {
			specs = append(specs, models.TensorSpec{Name: prefix + k.suf, Shape: []int{c}, Kind: k.kind})
		}
	}
	sc := space.StemChannels
	conv("first.conv.weight", sc, 3, 3, 3)
	bn("first.bn", sc)
	conv("first_mb.depthwise.blocks.0.weight", sc, 1, 3, 3)
	bn("first_mb.depthwise.bn", sc)
	conv("first_mb.point_wise_1.conv.weight", space.FirstOut, sc, 1, 1)
	bn("first_mb.point_wise_1.bn", space.FirstOut)
	for l, spec := range space.Layers {
		c := spec.In
		pre := fmt.Sprintf("stages.%d", l)
		conv(pre+".point_wise.conv.weight", models.NumGroups*c, c, 1, 1)
		bn(pre+".point_wise.bn", models.NumGroups*c)
		for b := 0; b < models.NumGroups; b++ {
			for j, k := range models.KernelSizes {
				cp := fmt.Sprintf("%s.depthwise.blocks.%d.blocks.%d", pre, b, j)
				conv(cp+".conv.weight", c, 1, k, k)
				bn(cp+".bn", c)
			}
		}
		conv(pre+".point_wise_1.conv.weight", spec.Out, models.NumGroups*c, 1, 1)
		for s := 0; s < models.NumGroups; s++ {
			bn(fmt.Sprintf("%s.sbn.%d", pre, s), spec.Out)
		}
	}
	last := space.Layers[models.NumLayers-1].Out
	conv("last_stage.0.weight", space.HeadChannels, last, 1, 1)
	bn("last_stage.1", space.HeadChannels)
	specs = append(specs,
		models.TensorSpec{Name: "classifier.weight", Shape: []int{classes, space.HeadChannels}, Kind: models.LinearWeight},
		models.TensorSpec{Name: "classifier.bias", Shape: []int{classes}, Kind: models.LinearBias})
	return specs
}

// skipCandidate matches the authors' skip-candidate convs, which the
// supernet does not keep.
var skipCandidate = regexp.MustCompile(`^stages\.[0-9]+\.depthwise\.blocks\.[0-9]+\.blocks\.3\.weight$`)

// LooksLikeSupernet reports whether sd holds tensors only a unified
// supernet has (the SBNs and the per-candidate depthwise convs of layer 0).
func LooksLikeSupernet(sd weights.StateDict) bool {
	return sd["stages.0.sbn.0.weight"] != nil && sd["stages.0.depthwise.blocks.0.blocks.0.conv.weight"] != nil
}

// FromStateDict checks a supernet state dict (e.g. one saved by the
// authors' PyTorch code, "module." prefixes already stripped) against the
// supernet of space and returns the tensors a checkpoint keeps and the
// names it dropped (the skip candidates and BN num_batches_tracked, which
// never influence the output). The class count is the classifier's. A
// state dict that is not a unified supernet, misses a tensor or has one of
// another shape or an unknown tensor is an error naming it.
func FromStateDict(sd weights.StateDict, space *models.Space) (weights.StateDict, []string, error) {
	if !LooksLikeSupernet(sd) {
		return nil, nil, fmt.Errorf("not a unified supernet state dict (no stages.0.sbn.0.* or stages.0.depthwise.blocks.0.blocks.0.* tensors; a standalone network's weights are exported with `sgnas export --weights`, not converted to a supernet checkpoint)")
	}
	b := sd["classifier.bias"]
	if b == nil || len(b.Shape) != 1 {
		return nil, nil, fmt.Errorf("supernet state dict: classifier.bias missing or not a vector")
	}
	classes := b.Shape[0]
	if err := models.ValidateClasses(classes); err != nil {
		return nil, nil, fmt.Errorf("supernet state dict: classifier: %w", err)
	}
	specs := Tensors(space, classes)
	out := make(weights.StateDict, len(specs))
	var dropped []string
	rest := make(weights.StateDict, len(sd))
	for n, t := range sd {
		if skipCandidate.MatchString(n) || strings.HasSuffix(n, ".num_batches_tracked") {
			dropped = append(dropped, n)
			continue
		}
		rest[n] = t
	}
	if err := weights.Match(rest, specs, false); err != nil {
		return nil, nil, fmt.Errorf("supernet state dict (space %s, %d classes): %w", space.Name, classes, err)
	}
	for _, s := range specs {
		out[s.Name] = rest[s.Name]
	}
	sort.Strings(dropped)
	return out, dropped, nil
}

// ConvertedState is the state a supernet checkpoint made from a state dict
// (not by training) carries: the config fields a reader needs (space, the
// dataset to train a generator on, the authors' train portion) and the
// class count. Readers that decode the training state (train/supernet)
// see a run at epoch 0 with no history.
type ConvertedState struct {
	Config struct {
		Space        string  `json:"space"`
		Dataset      string  `json:"dataset"`
		Data         string  `json:"data"`
		TrainPortion float64 `json:"train_portion"`
	} `json:"config"`
	Classes       int    `json:"classes"`
	ConvertedFrom string `json:"converted_from"`
}

// WriteConverted writes model (checked by FromStateDict) as a supernet
// checkpoint of space at path, atomically, with no optimizer state.
// dataset and dataDir are recorded as the run's data (may be empty; a
// generator search then needs --dataset/--data); from names the source.
func WriteConverted(path string, model weights.StateDict, space *models.Space, dataset, dataDir, from string) error {
	var st ConvertedState
	st.Config.Space, st.Config.Dataset, st.Config.Data, st.Config.TrainPortion = space.Name, dataset, dataDir, 0.8
	st.Classes = len(model["classifier.bias"].Data)
	st.ConvertedFrom = from
	return Write(path, st, model, weights.StateDict{})
}

// Metadata describes a supernet for a safetensors file (weights.Meta*
// keys; kind "supernet", no architecture, no SE, ReLU6).
func (s *Supernet) Metadata(producer string) map[string]string {
	return map[string]string{
		weights.MetaFormat:   "pt",
		weights.MetaProducer: producer,
		weights.MetaKind:     weights.MetaKindSupernet,
		weights.MetaSpace:    s.Space.Name,
		weights.MetaClasses:  fmt.Sprint(s.Classes),
		weights.MetaSE:       "false",
		weights.MetaAct:      string(models.ReLU6),
	}
}
