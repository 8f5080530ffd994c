package weights

import (
	"fmt"
	"strconv"

	"github.com/sgnas/sgnas/models"
)

// Metadata keys sgnas writes into a safetensors file's "__metadata__" (all
// values are strings, as the format requires). "format" is "pt" (the
// tensors use PyTorch's names and layouts, the value other safetensors
// tools expect of PyTorch weights); the rest describe what the tensors are
// the weights of.
const (
	MetaFormat   = "format"        // "pt"
	MetaProducer = "producer"      // e.g. "sgnas 0.1.0"
	MetaKind     = "sgnas.kind"    // MetaKindNetwork or MetaKindSupernet
	MetaSpace    = "sgnas.space"   // imagenet, cifar10, cifar100
	MetaArch     = "sgnas.arch"    // compact architecture (models.Arch.String), networks only
	MetaClasses  = "sgnas.classes" // decimal
	MetaSE       = "sgnas.se"      // "true" or "false"
	MetaAct      = "sgnas.act"     // relu6 or hswish
)

// Kinds of weights MetaKind names.
const (
	MetaKindNetwork  = "network"
	MetaKindSupernet = "supernet"
)

// NetworkMetadata describes the standalone network net for a safetensors
// file: kind, space, architecture, classes, SE and activation, and the
// producer.
func NetworkMetadata(net *models.Network, producer string) map[string]string {
	return map[string]string{
		MetaFormat:   "pt",
		MetaProducer: producer,
		MetaKind:     MetaKindNetwork,
		MetaSpace:    net.Space.Name,
		MetaArch:     net.Arch.String(),
		MetaClasses:  strconv.Itoa(net.Opts.NumClasses()),
		MetaSE:       strconv.FormatBool(net.Opts.SE),
		MetaAct:      string(net.Opts.Activation()),
	}
}

// CheckNetworkMetadata compares what a safetensors file's metadata says
// about its weights with net: a file that names a supernet, another space,
// architecture, class count, SE setting or activation is an error naming
// both values. Keys that are absent are not checked (files written by
// other tools carry none).
func CheckNetworkMetadata(meta map[string]string, net *models.Network) error {
	if k, ok := meta[MetaKind]; ok && k != MetaKindNetwork {
		return fmt.Errorf("metadata says these are the weights of a %s, not of a standalone network (convert a supernet with `sgnas convert`, or export with --supernet)", k)
	}
	check := func(key, want string) error {
		if got, ok := meta[key]; ok && got != want {
			return fmt.Errorf("metadata %s is %q, the network being exported has %q", key, got, want)
		}
		return nil
	}
	if err := check(MetaSpace, net.Space.Name); err != nil {
		return err
	}
	if err := check(MetaArch, net.Arch.String()); err != nil {
		return err
	}
	if err := check(MetaClasses, strconv.Itoa(net.Opts.NumClasses())); err != nil {
		return err
	}
	if err := check(MetaSE, strconv.FormatBool(net.Opts.SE)); err != nil {
		return err
	}
	if got, ok := meta[MetaAct]; ok {
		act, err := models.ParseActivation(got)
		if err != nil || act != net.Opts.Activation() {
			return fmt.Errorf("metadata %s is %q, the network being exported has %q", MetaAct, got, net.Opts.Activation())
		}
	}
	return nil
}
