package export

import (
	"fmt"

	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/weights"
)

// LoadWeights imports a state dict — a PyTorch checkpoint (.pth, zip or
// legacy format; a bare state dict or one under
// "model"/"state_dict"/"state_dict_ema") or a safetensors file, told apart
// by content; "module." prefixes stripped — and checks it against net: a
// safetensors file whose metadata names another architecture or network
// options is refused (weights.CheckNetworkMetadata), every expected tensor
// must be present with the expected shape and, unless allowUnexpected, no
// other tensor may be present (BN num_batches_tracked excepted), and every
// value must be finite. Errors name the file and the offending tensors.
func LoadWeights(path string, net *models.Network, allowUnexpected bool) (weights.StateDict, error) {
	ck, err := weights.LoadFile(path)
	if err != nil {
		return nil, fmt.Errorf("import weights %s: %w", path, err)
	}
	if err := weights.CheckNetworkMetadata(ck.Metadata, net); err != nil {
		return nil, fmt.Errorf("import weights %s: %w", path, err)
	}
	if err := CheckWeights(ck.Tensors, net, allowUnexpected); err != nil {
		return nil, fmt.Errorf("import weights %s: %w", path, err)
	}
	if err := ck.Tensors.CheckFinite(); err != nil {
		return nil, fmt.Errorf("import weights %s: %w", path, err)
	}
	return ck.Tensors, nil
}

// CheckWeights checks sd against the tensors net expects: every tensor
// present with the expected shape and, unless allowUnexpected, nothing else
// (BN num_batches_tracked excepted). The error lists the offending tensors.
func CheckWeights(sd weights.StateDict, net *models.Network, allowUnexpected bool) error {
	return weights.Match(sd, net.Tensors(), allowUnexpected)
}

// InitWeights returns seeded initial weights for net with the authors' init
// scheme (weights.Init): the same seed gives the same tensors.
func InitWeights(net *models.Network, seed int64) weights.StateDict {
	return weights.Init(net.Tensors(), seed)
}
