package profiles

import (
	"fmt"
	"strings"

	"github.com/sgnas/sgnas/infer"
	"github.com/sgnas/sgnas/models"
)

// Use is what a caller wants a profile for: its network options and, unless
// Device is nil, the device the prediction is for. Force accepts a profile
// whose device fingerprint differs.
type Use struct {
	Network *Network     // nil: any network
	Device  *Fingerprint // nil: no device check
	Force   bool
}

// CheckNetwork refuses a profile measured for other network options.
func (p *Profile) CheckNetwork(want Network) error {
	var diffs []string
	if p.Network.Space != want.Space {
		diffs = append(diffs, fmt.Sprintf("space %s, not %s", p.Network.Space, want.Space))
	}
	if p.Network.SE != want.SE {
		diffs = append(diffs, fmt.Sprintf("SE %v, not %v", p.Network.SE, want.SE))
	}
	if p.Network.Activation != want.Activation {
		diffs = append(diffs, fmt.Sprintf("activation %s, not %s", p.Network.Activation, want.Activation))
	}
	if p.Network.Classes != want.Classes {
		diffs = append(diffs, fmt.Sprintf("%d classes, not %d", p.Network.Classes, want.Classes))
	}
	if len(diffs) > 0 {
		return fmt.Errorf("profile is for another network (%s): build one with `sgnas profile build` for %s", strings.Join(diffs, "; "), want)
	}
	return nil
}

// CheckDevice refuses a profile measured on a device that differs from cur
// (see Fingerprint.Compare), unless force; the error is one line listing
// every blocking difference.
func (p *Profile) CheckDevice(cur Fingerprint, force bool) error {
	blocking, _ := p.Device.Compare(cur)
	if len(blocking) == 0 || force {
		return nil
	}
	return fmt.Errorf("profile was measured on another device or setting: %s; build one here with `sgnas profile build`, or pass --force to use it anyway", strings.Join(blocking, "; "))
}

// Load reads a complete profile and checks it against u. Errors are one line
// naming the file.
func Load(path string, u Use) (*Profile, error) {
	p, err := Read(path)
	if err != nil {
		return nil, err
	}
	if err := p.Check(u); err != nil {
		return nil, fmt.Errorf("profile %s: %w", path, err)
	}
	return p, nil
}

// Check applies the network and device checks of u.
func (p *Profile) Check(u Use) error {
	if u.Network != nil {
		if err := p.CheckNetwork(*u.Network); err != nil {
			return err
		}
	}
	if u.Device != nil {
		if err := p.CheckDevice(*u.Device, u.Force); err != nil {
			return err
		}
	}
	return nil
}

// LoadPredictor is what a latency budget (`sgnas generate --latency`,
// `sgnas-export --latency`) needs: it reads the profile at path, refuses it
// for other network options than opts, initialises ONNX Runtime (ortLib as
// infer.Init) to fingerprint this machine with the profile's own settings
// (EP, threads, batch, graph optimisation level), refuses a different device
// unless force, and returns the predictor. Errors are one line naming the
// file.
func LoadPredictor(path string, opts models.Options, ortLib string, force bool) (*Predictor, error) {
	pr, _, err := LoadPredictorWarn(path, opts, ortLib, force)
	return pr, err
}

// LoadPredictorWarn is LoadPredictor that also returns, when force let a
// profile of another device (or an unverifiable one) through, the one-line
// warning to print ("" otherwise).
func LoadPredictorWarn(path string, opts models.Options, ortLib string, force bool) (*Predictor, string, error) {
	p, err := Read(path)
	if err != nil {
		return nil, "", err
	}
	want := NetworkOf(opts)
	if err := p.CheckNetwork(want); err != nil {
		return nil, "", fmt.Errorf("profile %s: %w", path, err)
	}
	warn := ""
	// Fingerprinting needs the library's version only: for a CUDA profile
	// that is the CUDA bundle's core, loaded without its provider.
	lib, err := infer.FindLibraryFor(p.Device.EP, ortLib)
	if err == nil {
		err = infer.Init(lib)
	}
	if err != nil {
		if !force {
			return nil, "", fmt.Errorf("profile %s: cannot fingerprint this machine (%v); pass --force to use the profile unchecked", path, err)
		}
		warn = fmt.Sprintf("warning: profile %s used unchecked (--force): cannot fingerprint this machine (%v)", path, err)
	} else {
		d := p.Device
		cur := CurrentFingerprint(d.EP, d.Threads, d.Batch, d.OptLevel)
		if err := p.CheckDevice(cur, false); err != nil {
			if !force {
				return nil, "", fmt.Errorf("profile %s: %w", path, err)
			}
			blocking, _ := p.Device.Compare(cur)
			warn = fmt.Sprintf("warning: profile %s was measured on another device or setting (%s); using it anyway (--force), predictions may be off",
				path, strings.Join(blocking, "; "))
		}
	}
	pr, err := NewPredictor(p)
	if err != nil {
		return nil, "", fmt.Errorf("profile %s: %w", path, err)
	}
	return pr, warn, nil
}
