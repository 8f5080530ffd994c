package weights

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sgnas/sgnas/models"
)

// maxProblems caps how many problems one Match error lists.
const maxProblems = 20

// Match checks sd against the tensors a network expects: every expected
// tensor must be present with the expected shape, and — unless
// allowUnexpected — sd may hold no other tensor except "*.num_batches_tracked".
// All problems are collected into one error (at most 20 listed).
func Match(sd StateDict, specs []models.TensorSpec, allowUnexpected bool) error {
	var problems []string
	expected := make(map[string]bool, len(specs))
	for _, s := range specs {
		expected[s.Name] = true
		t, ok := sd[s.Name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("missing %s (expected shape %v)", s.Name, s.Shape))
		case !sameShape(t.Shape, s.Shape):
			problems = append(problems, fmt.Sprintf("%s: shape %v, expected %v", s.Name, t.Shape, s.Shape))
		}
	}
	if !allowUnexpected {
		var extra []string
		for name, t := range sd {
			if !expected[name] && !strings.HasSuffix(name, ".num_batches_tracked") {
				extra = append(extra, fmt.Sprintf("unexpected %s (shape %v)", name, t.Shape))
			}
		}
		sort.Strings(extra)
		problems = append(problems, extra...)
	}
	if len(problems) == 0 {
		return nil
	}
	n := len(problems)
	if n > maxProblems {
		problems = append(problems[:maxProblems], fmt.Sprintf("... and %d more", n-maxProblems))
	}
	return fmt.Errorf("state dict does not match the network (%d problems): %s", n, strings.Join(problems, "; "))
}
