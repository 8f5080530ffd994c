package profiles

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed shipped
var shippedFS embed.FS

// Named is a profile with the name or path it was found under.
type Named struct {
	Name    string
	Profile *Profile
	Err     error // set when the file is not a readable profile
}

// Shipped lists the profiles embedded in the binary (profiles/shipped/*.json),
// by name (file name without .json).
func Shipped() []Named {
	var out []Named
	ents, _ := fs.ReadDir(shippedFS, "shipped")
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := shippedFS.ReadFile(path.Join("shipped", e.Name()))
		n := Named{Name: strings.TrimSuffix(e.Name(), ".json")}
		if err == nil {
			n.Profile, n.Err = Parse(b, false)
		} else {
			n.Err = err
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ShippedProfile returns the embedded profile called name.
func ShippedProfile(name string) (*Profile, error) {
	for _, n := range Shipped() {
		if n.Name == name {
			if n.Err != nil {
				return nil, fmt.Errorf("shipped profile %s: %w", name, n.Err)
			}
			return n.Profile, nil
		}
	}
	return nil, fmt.Errorf("no shipped profile called %q", name)
}
