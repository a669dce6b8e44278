package fleetconfig

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes as a config file to Load, then resolves every stage: neither may
// panic, and every failure must be one of the package's documented errors.
func FuzzLoad(f *testing.F) {
	seeds := []string{
		`project "p"` + "\nservice \"api\" { build { no_cache #true; args { A \"{X}\" } } }\nstage \"prod\" { service \"api\" }",
		"stage \"a\" { service \"b\" { target prod } }\nvariables { X \"${HOME:-h}\" }",
		"a \"\"\"\n  x\n  \"\"\" #\"raw\"# r#\"v1\"#\n",
		"a { b { c 1 } }\r\n/- d (t)e k = v",
		`include "flow.kdl"`,
		`include "*"`,
		"a \"\\u{10FFFF}\\s\\\n  b\"",
		"service \"api\" context=\"..\" { context \"/\" }\nstage \"s\" {}",
		"/* /* */ */ a 0x_1 1e5 -0b1 .5",
		"}{",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		file := filepath.Join(dir, "flow.kdl")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Load(file, LoadOptions{Getenv: envOf(map[string]string{"HOME": "/home/u"})})
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Load() error %T %q does not match ErrInvalidConfig", err, err)
			}
			return
		}
		for _, stage := range c.Stages() {
			_, _ = c.Resolve(stage, ResolveOptions{})
		}
	})
}
