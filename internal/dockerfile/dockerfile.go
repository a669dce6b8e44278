// Package dockerfile reads Dockerfiles with BuildKit's parser, the parser Kaniko itself uses
// (github.com/moby/buildkit v0.22.0, the version Kaniko v1.24.0 is built with), so that a file is
// read here exactly as the build will read it. It answers what the project needs to know of a
// Dockerfile before building it: its stages and their names, which stages a target needs, the
// images those stages start from once build args are substituted, and how many steps Kaniko will
// run (for the progress bar).
package dockerfile

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/moby/buildkit/frontend/dockerfile/command"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Dockerfile is a parsed Dockerfile.
type Dockerfile struct {
	// Stages are the FROM blocks, in order.
	Stages []Stage
	// MetaArgs are the ARGs before the first FROM: the only build args a FROM line can use.
	MetaArgs []Arg

	escape rune
}

// Arg is one ARG declaration.
type Arg struct {
	Name string
	// Default is the declared default value, nil when the ARG has none.
	Default *string
}

// Stage is one FROM block.
type Stage struct {
	// Name is the name after AS, lower-cased as BuildKit and Kaniko compare names; "" when unnamed.
	Name string
	// Base is the FROM argument as written: an image reference or the name of an earlier stage,
	// possibly with ${ARG} references.
	Base string
	// Line is the 1-based line of the FROM instruction.
	Line int
	// Steps counts the instructions Kaniko runs (and logs) for this stage: all of them but FROM
	// itself and MAINTAINER, which Kaniko skips with a deprecation warning.
	Steps int
	// CopyFrom holds the --from value of each COPY that has one, as written: a stage name, a
	// stage index or an image.
	CopyFrom []string
}

// Parse reads a Dockerfile. The error names the line and what is wrong; Kaniko would refuse the
// same file.
func Parse(data []byte) (*Dockerfile, error) {
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, parseError(data, err)
	}
	if err := checkOrder(res.AST); err != nil {
		return nil, err
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, parseError(data, err)
	}
	if len(stages) == 0 {
		return nil, errNoFrom
	}
	d := &Dockerfile{escape: res.EscapeToken}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			d.MetaArgs = append(d.MetaArgs, Arg{Name: kv.Key, Default: kv.Value})
		}
	}
	for _, st := range stages {
		s := Stage{Name: st.Name, Base: st.BaseName}
		if len(st.Location) > 0 {
			s.Line = st.Location[0].Start.Line
		}
		for _, c := range st.Commands {
			switch c := c.(type) {
			case *instructions.MaintainerCommand:
				continue
			case *instructions.CopyCommand:
				if c.From != "" {
					s.CopyFrom = append(s.CopyFrom, c.From)
				}
			}
			s.Steps++
		}
		d.Stages = append(d.Stages, s)
	}
	return d, nil
}

var errNoFrom = errors.New("the Dockerfile has no FROM instruction: a build needs at least one FROM line that names the base image")

// checkOrder finds the mistakes BuildKit reports least helpfully: an unknown instruction, an
// instruction before the first FROM, and a FROM line of the wrong shape.
func checkOrder(ast *parser.Node) error {
	seenFrom := false
	for _, n := range ast.Children {
		cmd := strings.ToLower(n.Value)
		if _, ok := command.Commands[cmd]; !ok {
			return fmt.Errorf("line %d of the Dockerfile: unknown instruction %q; use a Dockerfile instruction such as RUN, COPY or FROM", n.StartLine, n.Value)
		}
		switch {
		case cmd == command.From:
			seenFrom = true
			var args []string
			for a := n.Next; a != nil; a = a.Next {
				args = append(args, a.Value)
			}
			if len(args) != 1 && (len(args) != 3 || !strings.EqualFold(args[1], "AS")) {
				return fmt.Errorf("line %d of the Dockerfile: FROM needs an image and optionally \"AS <name>\" (FROM <image> [AS <name>]), got %q",
					n.StartLine, strings.Join(args, " "))
			}
		case !seenFrom && cmd != command.Arg:
			// ARGs before the first FROM are global build arguments.
			return fmt.Errorf("line %d of the Dockerfile: %s comes before the first FROM; only ARG may precede FROM, so start the Dockerfile with a FROM line", n.StartLine, strings.ToUpper(cmd))
		}
	}
	return nil
}

// parseError turns a BuildKit error into one that names the Dockerfile line.
func parseError(data []byte, err error) error {
	msg := innermost(err).Error()
	if msg == "file with no instructions" {
		return errNoFrom
	}
	line := 0
	var loc *parser.LocationError
	if errors.As(err, &loc) && len(loc.Locations) > 0 && len(loc.Locations[0]) > 0 {
		line = loc.Locations[0][0].Start.Line
		if strings.Contains(msg, "parser directive") || strings.Contains(msg, "escape token") {
			// BuildKit locates errors in the directives at the top of the file 0-based,
			// everything else 1-based.
			line++
		}
	}
	if msg == "unterminated heredoc" && line > 0 {
		if name := heredocName(data, line); name != "" {
			msg = fmt.Sprintf("heredoc <<%s is never closed; add a line that holds only %s after its content", name, name)
		}
	}
	if line == 0 {
		return fmt.Errorf("the Dockerfile cannot be read: %s", msg)
	}
	return fmt.Errorf("line %d of the Dockerfile: %s", line, msg)
}

// innermost unwraps err to the error that says what is wrong, without BuildKit's wrappers that
// repeat the line.
func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// heredocName is the delimiter of the first heredoc that starts on the given 1-based line.
func heredocName(data []byte, line int) string {
	lines := strings.Split(string(data), "\n")
	if line > len(lines) {
		return ""
	}
	for _, w := range strings.Fields(lines[line-1]) {
		if h, err := parser.ParseHeredoc(w); err == nil && h != nil {
			return h.Name
		}
	}
	return ""
}

// Target returns the index of the stage named target (case does not matter, as in Kaniko and
// BuildKit), or of the last stage when target is empty.
func (d *Dockerfile) Target(target string) (int, error) {
	if target == "" {
		return len(d.Stages) - 1, nil
	}
	var names []string
	for i, s := range d.Stages {
		if strings.EqualFold(s.Name, target) {
			return i, nil
		}
		if s.Name != "" {
			names = append(names, s.Name)
		}
	}
	if len(names) == 0 {
		return 0, fmt.Errorf("target stage %q is not in the Dockerfile, which names no stages: add \"AS %s\" to a FROM line or remove the target", target, target)
	}
	return 0, fmt.Errorf("target stage %q is not in the Dockerfile: use one of %s, or name a stage with \"FROM <image> AS %s\"", target, strings.Join(names, ", "), target)
}

// Needs returns the indices, in order, of the stages that building stage target needs: the
// target itself and, transitively, the stages it starts FROM or copies from (COPY --from=<name>
// or <index>). This is BuildKit's selection; Kaniko's differs in corner cases (see
// CountStepsSkipUnused).
func (d *Dockerfile) Needs(target int) []int {
	need := map[int]bool{}
	var visit func(i int)
	visit = func(i int) {
		if need[i] {
			return
		}
		need[i] = true
		s := d.Stages[i]
		if j, ok := d.stageRef(s.Base, i); ok {
			visit(j)
		}
		for _, from := range s.CopyFrom {
			if j, ok := d.stageRef(from, i); ok {
				visit(j)
			}
		}
	}
	visit(target)
	out := make([]int, 0, len(need))
	for i := range need {
		out = append(out, i)
	}
	sort.Ints(out)
	return out
}

// stageRef resolves a reference made in stage i to an earlier stage: its name, or its index.
func (d *Dockerfile) stageRef(ref string, i int) (int, bool) {
	if n, err := strconv.Atoi(ref); err == nil && n >= 0 && n < i && strconv.Itoa(n) == ref {
		return n, true
	}
	for j := i - 1; j >= 0; j-- {
		if d.Stages[j].Name != "" && strings.EqualFold(d.Stages[j].Name, ref) {
			return j, true
		}
	}
	return 0, false
}

// platformArgs are the build args BuildKit defines in the global scope without an ARG line.
var platformArgs = []string{"BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT", "TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT"}

// BaseImages returns the images that building target (the last stage when empty) starts from:
// the FROM image of every stage the target needs, once buildArgs are substituted, in stage order
// and without repeats. A FROM naming an earlier stage, and FROM scratch, pull no image and are
// left out. As in BuildKit, a FROM line sees only the ARGs declared before the first FROM (with
// buildArgs overriding their defaults) and the platform args (TARGETARCH, BUILDPLATFORM ...),
// which are substituted only when buildArgs sets them.
func (d *Dockerfile) BaseImages(target string, buildArgs map[string]string) ([]string, error) {
	idx, err := d.Target(target)
	if err != nil {
		return nil, err
	}
	var env []string
	for _, a := range d.MetaArgs {
		if v, ok := buildArgs[a.Name]; ok {
			env = append(env, a.Name+"="+v)
		} else if a.Default != nil {
			env = append(env, a.Name+"="+*a.Default)
		}
	}
	for _, name := range platformArgs {
		if v, ok := buildArgs[name]; ok {
			env = append(env, name+"="+v)
		}
	}
	lex := shell.NewLex(d.escape)
	scope := shell.EnvsFromSlice(env)
	var images []string
	for _, i := range d.Needs(idx) {
		s := d.Stages[i]
		res, err := lex.ProcessWordWithMatches(s.Base, scope)
		if err != nil {
			return nil, fmt.Errorf("line %d of the Dockerfile: FROM %s: %w", s.Line, s.Base, err)
		}
		image := res.Result
		if _, ok := d.stageRef(image, i); ok || strings.EqualFold(image, "scratch") {
			continue
		}
		if _, err := name.ParseReference(image); err != nil {
			why := ""
			if len(res.Unmatched) > 0 {
				unset := make([]string, 0, len(res.Unmatched))
				for arg := range res.Unmatched {
					unset = append(unset, arg)
				}
				sort.Strings(unset)
				why = fmt.Sprintf(" (%s has no value: pass it as a build arg or give its ARG before the first FROM a default)", strings.Join(unset, ", "))
			}
			return nil, fmt.Errorf("line %d of the Dockerfile: FROM %s gives %q, which is not an image reference%s", s.Line, s.Base, image, why)
		}
		if !slices.Contains(images, image) {
			images = append(images, image)
		}
	}
	return images, nil
}

// CopiedImages returns the images that the stages building target (the last stage when empty)
// copy files from with COPY --from=<image>, in stage order and without repeats; --from naming a
// stage is left out. A --from that uses a variable is an error: it takes its value from ARGs of
// the stage, which are not resolved here.
func (d *Dockerfile) CopiedImages(target string) ([]string, error) {
	idx, err := d.Target(target)
	if err != nil {
		return nil, err
	}
	var images []string
	for _, i := range d.Needs(idx) {
		s := d.Stages[i]
		for _, from := range s.CopyFrom {
			if _, ok := d.stageRef(from, i); ok || slices.Contains(images, from) {
				continue
			}
			if strings.Contains(from, "$") {
				return nil, fmt.Errorf("line %d of the Dockerfile: COPY --from=%s uses a variable", s.Line, from)
			}
			images = append(images, from)
		}
	}
	return images, nil
}
