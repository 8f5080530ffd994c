package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"
)

func runProfile(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := &cli.Command{Name: "sgnas", Writer: &out, Commands: []*cli.Command{profileCommand()}}
	err := root.Run(context.Background(), append([]string{"sgnas", "profile"}, args...))
	return out.String(), err
}

const validProfile = "../../profiles/testdata/valid_cifar10.json"

func TestProfileShowAndList(t *testing.T) {
	out, err := runProfile(t, "show", validProfile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"quick", "cifar10, no SE, relu6, 10 classes", "456 measured, 1121 fitted", "correction", "range", "cost model"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	dir := t.TempDir()
	b, _ := os.ReadFile(validProfile)
	os.WriteFile(filepath.Join(dir, "dev.json"), b, 0o644)
	os.WriteFile(filepath.Join(dir, "arch.json"), []byte(`{"space":"imagenet"}`), 0o644)
	os.WriteFile(filepath.Join(dir, "broken.json"), []byte(`{"schema":"sgnas-profile/1", "complete": tru`), 0o644)
	out, err = runProfile(t, "list", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "dev.json") || !strings.Contains(out, "broken.json") || !strings.Contains(out, "unreadable") || strings.Contains(out, "arch.json") {
		t.Errorf("list:\n%s", out)
	}
}

func TestProfileBadInputs(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "c.json")
	os.WriteFile(corrupt, []byte("{\"schema\": \"sgnas-profile/1\", "), 0o644)
	foreign := filepath.Join(dir, "f.json")
	os.WriteFile(foreign, []byte(`{"layers": [1,2,3]}`), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"show", filepath.Join(dir, "none.json")}, "file does not exist"},
		{[]string{"show", corrupt}, "not valid JSON"},
		{[]string{"show", foreign}, "not an sgnas device profile"},
		{[]string{"show"}, "want one PROFILE"},
		{[]string{"check", "--profile", filepath.Join(dir, "none.json")}, "file does not exist"},
		{[]string{"check", "--profile", validProfile, "--plot", "x.gif"}, "want a .svg or .png file"},
		{[]string{"check", "--profile", validProfile, "--models", "1"}, "want models ≥ 2"},
		{[]string{"check", "--profile", validProfile, "--models", "2"}, "measured on another device or setting: CPU \"Test CPU\""},
		{[]string{"build", "--space", "mnist", "--out", filepath.Join(dir, "p.json")}, "unknown search space"},
		{[]string{"build", "--act", "gelu", "--out", filepath.Join(dir, "p.json")}, "--act"},
		{[]string{"build", "--threads", "0", "--out", filepath.Join(dir, "p.json")}, "want threads"},
		{[]string{"build", "--ep", "cuda", "--space", "cifar10", "--cal-models", "0", "--out", filepath.Join(dir, "p.json")}, "CUDA execution provider"},
		{[]string{"build", "--resume", "--space", "cifar10", "--out", filepath.Join(dir, "p.json")}, "--resume: profile"},
	} {
		_, err := runProfile(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: got %v, want one line with %q", c.args, err, c.want)
		}
	}
}
