package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/fleetflow/flow-build/internal/fleetconfig"
	"github.com/fleetflow/flow-build/internal/testing/envtestutil"
)

var update = flag.Bool("update", false, "rewrite the golden plans of testdata/fleetflow from what flow resolves now")

// corpusCase is one command run on one project of testdata/fleetflow, listed in the project's
// cases.yaml.
type corpusCase struct {
	// Name says what the case shows.
	Name string `json:"name"`
	// Follows names the FleetFlow behaviour the case pins, with its source, or the FleetFlow bug
	// flow does not copy and what it does instead.
	Follows string `json:"follows"`
	// Args are flow's arguments, Env its environment (nothing else of the machine's is seen), Dir
	// the working directory inside the project (default: the project itself).
	Args []string          `json:"args"`
	Env  map[string]string `json:"env"`
	Dir  string            `json:"dir"`
	// Golden is the file under the project's golden/ folder holding the expected plan.
	Golden string `json:"golden"`
}

// TestFleetFlowCorpus runs every case of every project in testdata/fleetflow through `flow`'s
// real command line up to the point where it would contact a cluster or a registry, and compares
// the resolved plan (or the error), the messages and the exit status with the golden file.
// Regenerate the golden files with: go test ./internal/cli -run TestFleetFlowCorpus -update
func TestFleetFlowCorpus(t *testing.T) {
	corpus := filepath.Join(envtestutil.RepoRoot(), "testdata", "fleetflow")
	projects, err := os.ReadDir(corpus)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, p := range projects {
		if !p.IsDir() {
			continue
		}
		dir := filepath.Join(corpus, p.Name())
		raw, err := os.ReadFile(filepath.Join(dir, "cases.yaml"))
		if err != nil {
			t.Fatalf("%s: %v", p.Name(), err)
		}
		var cases struct {
			Cases []corpusCase `json:"cases"`
		}
		if err := yaml.UnmarshalStrict(raw, &cases); err != nil {
			t.Fatalf("%s/cases.yaml: %v", p.Name(), err)
		}
		for _, c := range cases.Cases {
			total++
			t.Run(p.Name()+"/"+c.Name, func(t *testing.T) {
				if c.Follows == "" || c.Golden == "" {
					t.Fatalf("case %q must say which FleetFlow behaviour it follows and name its golden file", c.Name)
				}
				got := runCorpusCase(t, dir, c)
				golden := filepath.Join(dir, "golden", c.Golden)
				if *update {
					if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (regenerate with -update)", err)
				}
				if got != string(want) {
					t.Errorf("plan differs from %s (regenerate with -update after checking the change)\n--- got\n%s--- want\n%s", golden, got, want)
				}
			})
		}
	}
	if total < 12 {
		t.Errorf("the corpus holds %d cases; it lost projects", total)
	}
}

// runCorpusCase runs flow and describes what it resolved, with the project's path written R.
func runCorpusCase(t *testing.T, project string, c corpusCase) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	var plan *fleetconfig.Plan
	var targets []*target
	// {R} in values and arguments is the project's folder.
	vars := map[string]string{}
	for k, v := range c.Env {
		vars[k] = strings.ReplaceAll(v, "{R}", project)
	}
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = strings.ReplaceAll(a, "{R}", project)
	}
	env := Env{
		Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
		Getenv: func(k string) string { return vars[k] },
		Environ: func() []string {
			var kv []string
			for k, v := range vars {
				kv = append(kv, k+"="+v)
			}
			return kv
		},
		WorkDir: filepath.Join(project, filepath.FromSlash(c.Dir)),
		planned: func(p *fleetconfig.Plan, ts []*target) { plan, targets = p, ts },
	}
	code := Run(context.Background(), env, args)

	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n# follows: %s\n$ ", c.Name, c.Follows)
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range c.Env {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(&b, "%s=%q ", k, c.Env[k])
	}
	fmt.Fprintf(&b, "flow %s\nexit status: %d\n", strings.Join(quoteArgs(c.Args), " "), code)
	if plan != nil {
		b.WriteString("--- plan\n")
		fmt.Fprintf(&b, "project: %s\nstage: %s\n", plan.Project, plan.Stage)
		push := slices.Contains(c.Args, "--push")
		for _, t := range targets {
			fmt.Fprintf(&b, "build %s\n", t.build.Service)
			if push {
				fmt.Fprintf(&b, "  push: %s\n", strings.Join(t.push.Images(), ", "))
			} else {
				fmt.Fprintf(&b, "  image (not pushed): %s\n", strings.Join(t.push.Images(), ", "))
			}
			fmt.Fprintf(&b, "  dockerfile: %s\n  context: %s\n", t.build.DockerfileRel, t.build.ContextRel)
			if t.build.Target != "" {
				fmt.Fprintf(&b, "  target: %s\n", t.build.Target)
			}
			for _, a := range t.build.BuildArgs {
				fmt.Fprintf(&b, "  build arg: %s=%s\n", a.Name, a.Value)
			}
			if len(t.build.Platforms) > 0 {
				fmt.Fprintf(&b, "  platforms: %s\n", strings.Join(t.build.Platforms, ", "))
			}
			if t.build.NoCache {
				b.WriteString("  no cache\n")
			}
			fmt.Fprintf(&b, "  context upload: %s\n", t.bundleRepo)
		}
		for _, s := range plan.Skipped {
			fmt.Fprintf(&b, "skip %s: %s\n", s.Service, s.Reason)
		}
	}
	if s := stdout.String(); s != "" {
		b.WriteString("--- stdout\n" + s)
	}
	if s := stderr.String(); s != "" {
		b.WriteString("--- stderr\n" + s)
	}
	out := b.String()
	if real, err := filepath.EvalSymlinks(project); err == nil {
		out = strings.ReplaceAll(out, real, "R")
	}
	out = strings.ReplaceAll(out, project, "R")
	if !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	return out
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \"'$") {
			a = fmt.Sprintf("%q", a)
		}
		out[i] = a
	}
	return out
}
