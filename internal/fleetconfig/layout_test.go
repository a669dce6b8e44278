package fleetconfig

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleetflow/flow-build/internal/usererr"
)

// includeDiamond is a project of depth levels below fleet.kdl in which every file of a level
// includes both files of the next: 2*depth+1 files, but 2^depth paths from the top to the bottom.
func includeDiamond(depth int) map[string]string {
	files := map[string]string{"fleet.kdl": "include \"l1a.kdl\"\ninclude \"l1b.kdl\"\nstage \"prod\" { service \"s\" }\n"}
	for i := 1; i <= depth; i++ {
		next := ""
		if i < depth {
			next = fmt.Sprintf("include \"l%da.kdl\"\ninclude \"l%db.kdl\"\n", i+1, i+1)
		}
		files[fmt.Sprintf("l%da.kdl", i)] = next + fmt.Sprintf("variables { A%d \"a\" }\n", i)
		files[fmt.Sprintf("l%db.kdl", i)] = next + fmt.Sprintf("variables { B%d \"b\" }\n", i)
	}
	return files
}

// An include diamond 30 levels deep: loading each file every time it is included is 2^30 loads,
// which hung the CLI; each file is loaded once. (BenchmarkIncludeDiamond measures the time.)
func TestIncludeDiamondLoadsEachFileOnce(t *testing.T) {
	const depth = 30
	root := realTempDir(t)
	writeTree(t, root, includeDiamond(depth))
	done := make(chan struct{})
	var c *Config
	var err error
	go func() {
		defer close(done)
		c, err = Load(filepath.Join(root, "fleet.kdl"), LoadOptions{Getenv: envOf(nil)})
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("loading an include diamond did not finish in 20s")
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Files) != 2*depth+1 || c.Variables[fmt.Sprintf("B%d", depth)] != "b" {
		t.Errorf("%d files read, want %d, each once; variables %d", len(c.Files), 2*depth+1, len(c.Variables))
	}
}

// BenchmarkIncludeDiamond loads include diamonds of growing depth; the time per load grows with
// the number of files (2*depth+1), not with the number of include paths (2^depth).
//
//	go test ./internal/fleetconfig -run '^$' -bench IncludeDiamond -benchmem
func BenchmarkIncludeDiamond(b *testing.B) {
	for _, depth := range []int{10, 30} {
		b.Run(fmt.Sprintf("depth-%d", depth), func(b *testing.B) {
			root := realTempDir(b)
			writeTree(b, root, includeDiamond(depth))
			for b.Loop() {
				c, err := Load(filepath.Join(root, "fleet.kdl"), LoadOptions{Getenv: envOf(nil)})
				if err != nil {
					b.Fatal(err)
				}
				if len(c.Files) != 2*depth+1 {
					b.Fatalf("%d files read, want %d", len(c.Files), 2*depth+1)
				}
			}
		})
	}
}

func TestIncludeBudgetNamesTheIncludeAtFault(t *testing.T) {
	t.Run("a glob matching too many files", func(t *testing.T) {
		files := map[string]string{"fleet.kdl": "include \"many/*.kdl\"\n"}
		for i := range maxConfigFiles + 1 {
			files[fmt.Sprintf("many/f%04d.kdl", i)] = "\n"
		}
		root := realTempDir(t)
		writeTree(t, root, files)
		_, err := Load(filepath.Join(root, "fleet.kdl"), LoadOptions{Getenv: envOf(nil)})
		wantIncludeError(t, err, filepath.Join(root, "fleet.kdl")+`: include "many/*.kdl"`, "matches 501 files")
	})
	t.Run("a chain deeper than the limit", func(t *testing.T) {
		files := map[string]string{"fleet.kdl": "include \"d1.kdl\"\n"}
		for i := 1; i <= maxIncludeDepth+1; i++ {
			files[fmt.Sprintf("d%d.kdl", i)] = fmt.Sprintf("include \"d%d.kdl\"\n", i+1)
		}
		files[fmt.Sprintf("d%d.kdl", maxIncludeDepth+2)] = "\n"
		root := realTempDir(t)
		writeTree(t, root, files)
		_, err := Load(filepath.Join(root, "fleet.kdl"), LoadOptions{Getenv: envOf(nil)})
		// fleet.kdl and d1 … d31 make 32 levels; d31's include of d32 is one too many.
		wantIncludeError(t, err, filepath.Join(root, fmt.Sprintf("d%d.kdl", maxIncludeDepth-1))+fmt.Sprintf(`: include "d%d.kdl"`, maxIncludeDepth), "more than 32 levels: fleet.kdl → d1.kdl → d2.kdl")
	})
	t.Run("files that add up to too much", func(t *testing.T) {
		big := strings.Repeat("// padding padding padding padding padding padding padding padding\n", (3<<20)/67)
		files := map[string]string{"fleet.kdl": "include \"big/*.kdl\"\n"}
		for i := range 12 {
			files[fmt.Sprintf("big/b%02d.kdl", i)] = big
		}
		root := realTempDir(t)
		writeTree(t, root, files)
		_, err := Load(filepath.Join(root, "fleet.kdl"), LoadOptions{Getenv: envOf(nil)})
		wantIncludeError(t, err, filepath.Join(root, "fleet.kdl")+`: include "big/*.kdl"`, "add up to more than 32 MiB")
	})
}

func wantIncludeError(t *testing.T, err error, target, reason string) {
	t.Helper()
	var ue *usererr.Error
	if !errors.As(err, &ue) || !errors.Is(err, ErrTooManyFiles) || !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("error %v, want ErrTooManyFiles", err)
	}
	if ue.Target != target || !strings.Contains(ue.Reason.En, reason) {
		t.Errorf("target %q reason %q; want the include at fault %q and %q", ue.Target, ue.Reason.En, target, reason)
	}
}

// A file included twice (not in a cycle) is loaded where it first appears, once.
func TestIncludeOnceKeepsTheFirstPlace(t *testing.T) {
	root := realTempDir(t)
	writeTree(t, root, map[string]string{
		"fleet.kdl":  "include \"a.kdl\"\ninclude \"b.kdl\"\ninclude \"a.kdl\"\n",
		"a.kdl":      "registry \"a\"\n",
		"b.kdl":      "registry \"b\"\ninclude \"a.kdl\"\n",
		"services/x": "",
	})
	c, err := Load(filepath.Join(root, "fleet.kdl"), LoadOptions{Getenv: envOf(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if c.Registry != "b" || len(c.Files) != 3 {
		t.Errorf("registry %q files %v; want b (a.kdl loaded once, before b.kdl)", c.Registry, c.Files)
	}
}

// FleetFlow's layout and merge order: cloud.kdl, the root file, services/**, stages/** (sorted by path
// component), flow.<stage>.kdl, flow.local.kdl (root first, else .fleetflow/), then the variable files.
func TestLayoutOrder(t *testing.T) {
	root := realTempDir(t)
	writeTree(t, root, map[string]string{
		".fleetflow/fleet.kdl":       `registry "root"`,
		".fleetflow/cloud.kdl":       `registry "cloud"`,
		"services/b.kdl":             `registry "services/b"`,
		"services/a/x.kdl":           `registry "services/a/x"`,
		"services/a-b.kdl":           `registry "services/a-b"`,
		"services/notes.txt":         `registry "not kdl"`,
		"stages/prod.kdl":            `registry "stages/prod"`,
		".fleetflow/flow.prod.kdl":   `registry "override .fleetflow"`,
		"flow.prod.kdl":              `registry "override root"`,
		".fleetflow/flow.local.kdl":  `registry "local"`,
		"variables/v.kdl":            `variables { X "1" }`,
		".fleetflow/.env":            "A=1",
		".env.prod":                  "B=2",
		".fleetflow/services/no.kdl": `registry "never: services/ only at the root"`,
	})
	c, err := Load(filepath.Join(root, ".fleetflow", "fleet.kdl"), LoadOptions{Stage: "prod", Getenv: envOf(nil)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range c.Files {
		rel, _ := filepath.Rel(root, f)
		got = append(got, filepath.ToSlash(rel))
	}
	want := []string{
		".fleetflow/cloud.kdl", ".fleetflow/fleet.kdl", "services/a/x.kdl", "services/a-b.kdl", "services/b.kdl",
		"stages/prod.kdl", "flow.prod.kdl", ".fleetflow/flow.local.kdl", ".fleetflow/.env", ".env.prod", "variables/v.kdl",
	}
	if !slices.Equal(got, want) {
		t.Errorf("files =\n%v\nwant\n%v", got, want)
	}
	if c.Registry != "local" || c.LocalOverride == "" {
		t.Errorf("registry %q (the last file wins) local override %q", c.Registry, c.LocalOverride)
	}
	noStage, err := Load(filepath.Join(root, ".fleetflow", "fleet.kdl"), LoadOptions{Getenv: envOf(nil)})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range noStage.Files {
		if base := filepath.Base(f); base == "flow.prod.kdl" || base == ".env.prod" {
			t.Errorf("without a stage, %s is read", f)
		}
	}
}

// A later stage block replaces the stage, as in FleetFlow: an override restating the stage sets its
// list. Its service blocks survive a later block that has none of its own.
func TestStageReplaced(t *testing.T) {
	root := realTempDir(t)
	writeTree(t, root, map[string]string{
		"fleet.kdl": `
service "api" { dockerfile "Dockerfile" }
service "web" { dockerfile "Dockerfile" }
stage "prod" { service "api" { target "prod" }; service "web"; registry "r.io/x"; variables { V "1" } }
include "override.kdl"`,
		"override.kdl": `stage "prod" { service "api" }`,
		"Dockerfile":   "",
	})
	c, err := Load(filepath.Join(root, "fleet.kdl"), LoadOptions{Stage: "prod", Getenv: envOf(nil)})
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Resolve("prod", ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if built, _ := servicesOf(p); !slices.Equal(built, []string{"api"}) {
		t.Errorf("built %v, want the override's list", built)
	}
	if b := buildOf(t, p, "api"); b.Target != "prod" || b.Registry != "" || b.Image != "api" {
		t.Errorf("api: target %q registry %q image %q; want the stage's service block kept, its registry replaced", b.Target, b.Registry, b.Image)
	}
}

func TestScanVariables(t *testing.T) {
	src := `// variables { COMMENTED "x" }
/* variables { BLOCK "x" } */
/-variables { DISCARDED "x" }
variables {
    A "has } brace"
    B "{{ x | default(value=\"}\") }}"
    C #"raw } "#
}
service "x" { variables { NOT_TOP "x" } }
stage "prod" {
    variables { P "1" }
    /-variables { PD "1" }
}
stage "dev" { variables { D "1" } }
`
	blocks := scanVariables(src)
	var got []string
	for _, b := range blocks {
		got = append(got, b.stage+":"+strings.Join(blockNames(src, b), ","))
	}
	if want := []string{":A,B,C", "prod:P", "dev:D"}; !slices.Equal(got, want) {
		t.Errorf("blocks = %q, want %q", got, want)
	}
}

func TestDotenv(t *testing.T) {
	got := parseDotenv("# comment\n\nA=1\n B = two words \nC=\"quoted\"\nD='single'\nE=\"unbalanced'\nexport F=exported\nno equals\nG=a=b\nH=1 # not a comment\n")
	want := map[string]string{"A": "1", "B": "two words", "C": "quoted", "D": "single", "E": `"unbalanced'`, "F": "exported", "G": "a=b", "H": "1 # not a comment"}
	if len(got) != len(want) {
		t.Errorf("parsed %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestMisspelledFieldsWarn(t *testing.T) {
	root := realTempDir(t)
	writeTree(t, root, map[string]string{"fleet.kdl": `
projct "p"
service "api" {
    dockerfil "Dockerfile"
    targte "x"
    ports { port host=1 container=2 }
    healthcheck { test "true" }
    totally_custom "ignored quietly"
    build { contxt "."; whatever "x"; build_args { A "1" } }
    args { B "2" }
}
stage "prod" { servce "api"; backend "docker" }
`})
	c, err := Load(filepath.Join(root, "fleet.kdl"), LoadOptions{Getenv: envOf(nil)})
	if err != nil {
		t.Fatal(err)
	}
	all := warningsOf(c.Warnings)
	for _, want := range []string{
		`unknown top-level node "projct", did you mean "project"?`,
		`unknown service field "dockerfil", did you mean "dockerfile"?`,
		`unknown service field "targte", did you mean "target"?`,
		`unknown build field "contxt", did you mean "context"?`,
		`unknown build field "whatever" (known: dockerfile, context, target, args, no_cache, image_tag, platform, platforms)`,
		"build_args inside build {} is ignored",
		"args outside build {} is ignored",
		`unknown stage field "servce", did you mean "service"?`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings lack %q:\n%s", want, all)
		}
	}
	for _, quiet := range []string{"totally_custom", "ports", "healthcheck", "backend"} {
		if strings.Contains(all, `"`+quiet+`"`) {
			t.Errorf("a warning names %q, a setting of another FleetFlow command:\n%s", quiet, all)
		}
	}
	for _, w := range c.Warnings {
		if w.Ja == "" || w.Ja == w.En {
			t.Errorf("warning without Japanese: %q", w.En)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"dockerfil", "dockerfile", 1}, {"targte", "target", 1}, {"", "abc", 3}, {"context", "context", 0}, {"ab", "ba", 1}, {"kitten", "sitting", 3}} {
		if got := editDistance(tc.a, tc.b); got != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.d)
		}
	}
}

// {NAME} in build args: the process environment first (FleetFlow), then the stage's and the
// top-level variables, then the template variables; an unknown name stays and warns.
func TestBuildArgVariables(t *testing.T) {
	root := realTempDir(t)
	writeTree(t, root, map[string]string{
		".fleetflow/fleet.kdl": `
variables { TOP "top"; BOTH "top"; N 3 }
service "api" {
    dockerfile "Dockerfile"
    build_args { E "{ENV_ONLY}"; S "{BOTH}"; T "{TOP}"; F "{FROM_ENVFILE}"; V "{FROM_VARFILE}"; NUM "{N}"; U "{UNKNOWN}"; P "{OVERRIDDEN}" }
}
stage "prod" { service "api"; variables { BOTH "stage" } }`,
		".env":            "FROM_ENVFILE=envfile",
		"variables/v.kdl": `variables { FROM_VARFILE "varfile"; OVERRIDDEN "variable" }`,
		"Dockerfile":      "",
	})
	c, err := Load(filepath.Join(root, ".fleetflow", "fleet.kdl"), LoadOptions{Stage: "prod", Getenv: envOf(map[string]string{"ENV_ONLY": "env", "OVERRIDDEN": "env wins"})})
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Resolve("prod", ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := argsOf(buildOf(t, p, "api")), "E=env F=envfile NUM=3 P=env wins S=stage T=top U={UNKNOWN} V=varfile"; got != want {
		t.Errorf("build args %q, want %q", got, want)
	}
	if w := warningsOf(p.Warnings); !strings.Contains(w, "{UNKNOWN}") || strings.Count(w, "\n") != 0 {
		t.Errorf("warnings %q, want one about {UNKNOWN}", w)
	}
}

// A 1Password reference, which FleetFlow resolves with the op CLI, fails only where a template uses it.
func TestOnePasswordReference(t *testing.T) {
	root := realTempDir(t)
	writeTree(t, root, map[string]string{
		".fleetflow/fleet.kdl": "service \"api\" { image \"r.io/x:{{ TAG }}\" }\nstage \"prod\" { service \"api\" }",
		".env":                 "TAG=op://vault/item/tag\nDB_PASSWORD=op://vault/db/password",
	})
	_, err := Load(filepath.Join(root, ".fleetflow", "fleet.kdl"), LoadOptions{Stage: "prod", Getenv: envOf(nil)})
	var ue *usererr.Error
	if !errors.As(err, &ue) || !errors.Is(err, ErrTemplate) || !strings.Contains(ue.Reason.En, "1Password reference") || !strings.Contains(ue.Target, "fleet.kdl:1:") {
		t.Fatalf("error %v, want a template error about the 1Password reference", err)
	}
	writeTree(t, root, map[string]string{".fleetflow/fleet.kdl": "service \"api\" { image \"r.io/x\" }\nstage \"prod\" { service \"api\" }"})
	if _, err := Load(filepath.Join(root, ".fleetflow", "fleet.kdl"), LoadOptions{Stage: "prod", Getenv: envOf(nil)}); err != nil {
		t.Errorf("an unused reference fails the load: %v", err)
	}
}
